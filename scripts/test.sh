#!/usr/bin/env bash
# Installs what is missing, builds everything (Release, tests and benchmarks, in build/), runs
# every test, then runs each benchmark binary once in smoke mode (not a measurement: it checks
# that each expected benchmark binary exists and runs without an error). Exits non-zero on any
# failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_dir=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
test_timeout=${TEST_TIMEOUT:-600}  # seconds, per test

scripts/install-deps.sh --tests
BUILD_DIR="$build_dir" BUILD_TYPE=Release JOBS="$jobs" scripts/build.sh \
  -DTRACER_BUILD_TESTS=ON -DTRACER_BUILD_BENCHMARKS=ON

echo "== tests"
ctest --test-dir "$build_dir" --output-on-failure --timeout "$test_timeout" -j "$jobs"

echo "== benchmarks (smoke: each binary once, minimal time)"
# The suites bench/CMakeLists.txt builds, one binary each: a missing or an unexpected binary
# fails the run, as does a binary that exits non-zero or reports an error from any benchmark
# (SkipWithError: dropped events, a ring that never filled, a tracing thread that waited
# during a dump), read from its JSON output, since a binary may exit 0 after one.
expected_benchmarks="demo_bench format_bench recorder_bench sync_bench tracer_bench tracetool_bench"
list="$build_dir/benchmarks.txt"
if [[ ! -f "$list" ]]; then
  echo "test: $list is missing (configured without TRACER_BUILD_BENCHMARKS?)" >&2
  exit 1
fi
found=$(sed -e '/^$/d' -e 's|.*/||' "$list" | sort | tr '\n' ' ' | sed 's/ $//')
if [[ "$found" != "$expected_benchmarks" ]]; then
  echo "test: benchmark binaries are [$found], expected [$expected_benchmarks]" >&2
  exit 1
fi
smoke_dir="$build_dir/bench-smoke"
mkdir -p "$smoke_dir"
n=0
while IFS= read -r bench; do
  [[ -n "$bench" ]] || continue
  name=$(basename "$bench")
  json="$smoke_dir/$name.json"
  rm -f "$json"
  echo "-- $name"
  # Google Benchmark 1.7 (Debian 12) takes a plain number of seconds.
  rc=0
  timeout 600 "$bench" --benchmark_min_time=0.01 --benchmark_color=false \
    --benchmark_out="$json" --benchmark_out_format=json </dev/null || rc=$?
  if (( rc != 0 )); then
    echo "test: $name exited $rc" >&2
    exit 1
  fi
  if ! runs=$(jq -e '.benchmarks | length' "$json"); then
    echo "test: $name wrote no readable JSON to $json" >&2
    exit 1
  fi
  if (( runs == 0 )); then
    echo "test: $name ran no benchmark" >&2
    exit 1
  fi
  errors=$(jq -r '.benchmarks[] | select(.error_occurred == true) | "  \(.name): \(.error_message)"' "$json")
  if [[ -n "$errors" ]]; then
    echo "test: $name reported errors:" >&2
    echo "$errors" >&2
    exit 1
  fi
  echo "-- $name: $runs runs, no errors"
  n=$((n + 1))
done <"$list"
if (( n != $(wc -w <<<"$expected_benchmarks") )); then
  echo "test: $n benchmark binaries ran, expected $(wc -w <<<"$expected_benchmarks")" >&2
  exit 1
fi
echo "== benchmarks: $n binaries ran, no errors"
echo "test: all passed"
