# tracetool's analyses (bench/tracetool_bench.cc): events/s on one core beside the read-and-merge
# floor, and tracetool's peak RSS on a trace and on one 10x longer.
#   tracetool_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true  results
#   tracetool_bench --benchmark_min_time=0.01                                          smoke (CI)
add_executable(tracetool_bench ${CMAKE_CURRENT_LIST_DIR}/tracetool_bench.cc)
target_link_libraries(tracetool_bench PRIVATE tracer::analysis tracer::format absl::strings
  benchmark::benchmark)
target_compile_definitions(tracetool_bench PRIVATE
  TRACER_TRACETOOL_PATH="$<TARGET_FILE:tracetool>")
add_dependencies(tracetool_bench tracetool)
