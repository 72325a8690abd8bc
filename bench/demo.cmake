# The demo service with the flight recorder on against off (bench/demo_bench.cc): closed-loop
# maximum throughput and fixed-rate p99, from pairs of runs that alternate which side goes first.
#   demo_bench --demo_pairs=7 --demo_duration=3s    results (about 1.5 minutes)
#   demo_bench                                      smoke (CI): one pair of 1s runs each
add_executable(demo_bench ${CMAKE_CURRENT_LIST_DIR}/demo_bench.cc)
target_link_libraries(demo_bench PRIVATE tracer_demo_service absl::strings absl::time
  benchmark::benchmark Threads::Threads)
