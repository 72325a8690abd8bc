# Benchmarks of the format layer (bench/format_bench.cc). Each family sits beside its floor.
#   build/bench/format_bench                      full run
#   build/bench/format_bench --benchmark_min_time=0.001   smoke (what CI runs)
add_executable(format_bench ${CMAKE_CURRENT_LIST_DIR}/format_bench.cc)
target_link_libraries(format_bench PRIVATE tracer::format benchmark::benchmark)
