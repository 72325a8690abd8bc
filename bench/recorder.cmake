# Benchmarks of the flight recorder (bench/recorder_bench.cc): per-event cost beside the floor,
# WriteTo of a full 64 MiB recorder (time and the stall tracing threads see), and the window a
# MiB of ring holds (raw vs lz4).
#   recorder_bench --benchmark_repetitions=3     results (medians + summary table)
#   recorder_bench --benchmark_min_time=0.01     smoke (what CI runs; bounded, < 60 s)
add_executable(recorder_bench ${CMAKE_CURRENT_LIST_DIR}/recorder_bench.cc)
target_link_libraries(recorder_bench PRIVATE tracer::recorder benchmark::benchmark Threads::Threads)
