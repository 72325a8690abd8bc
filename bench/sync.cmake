# Benchmarks of the kit (tracer/sync/, bench/sync_bench.cc): tracer::Mutex, RwMutex and
# ThreadPool beside std:: and absl:: equivalents, tracing off and on, read from one run.
#   sync_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true   results
#   sync_bench --benchmark_min_time=0.01                                           smoke (CI)
add_executable(sync_bench ${CMAKE_CURRENT_LIST_DIR}/sync_bench.cc)
target_link_libraries(sync_bench
  PRIVATE tracer::sync tracer::tracer absl::synchronization benchmark::benchmark Threads::Threads)
