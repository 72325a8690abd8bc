#!/usr/bin/env bash
# Installs what is missing, builds everything (Release, tests and benchmarks, in build/), runs
# every test, then runs each benchmark binary once in smoke mode (not a measurement: it checks
# that each benchmark runs). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_dir=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
test_timeout=${TEST_TIMEOUT:-600}  # seconds, per test

scripts/install-deps.sh
BUILD_DIR="$build_dir" BUILD_TYPE=Release JOBS="$jobs" scripts/build.sh \
  -DTRACER_BUILD_TESTS=ON -DTRACER_BUILD_BENCHMARKS=ON

echo "== tests"
ctest --test-dir "$build_dir" --output-on-failure --timeout "$test_timeout" -j "$jobs"

echo "== benchmarks (smoke: each binary once, minimal time)"
list="$build_dir/benchmarks.txt"
if [[ ! -f "$list" ]]; then
  echo "test: $list is missing (configured without TRACER_BUILD_BENCHMARKS?)" >&2
  exit 1
fi
n=0
while IFS= read -r bench; do
  [[ -n "$bench" ]] || continue
  echo "-- $bench"
  # Google Benchmark 1.7 (Debian 12) takes a plain number of seconds.
  timeout 600 "$bench" --benchmark_min_time=0.01 --benchmark_color=false </dev/null
  n=$((n + 1))
done <"$list"
echo "== benchmarks: $n binaries ran"
echo "test: all passed"
