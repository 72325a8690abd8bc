# Benchmarks of the tracer's recording path, each beside its floor (rdtsc + a 16-byte store).
# Smoke mode (CI, scripts/test.sh): tracer_bench --benchmark_min_time=0.01 (exits 1 on an error)
add_executable(tracer_bench tracer_bench.cc)
target_link_libraries(tracer_bench PRIVATE tracer::tracer benchmark::benchmark Threads::Threads)
