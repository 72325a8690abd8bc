#!/usr/bin/env bash
# Configures and builds tracer.
#   scripts/build.sh [cmake -D options...]
# Environment: BUILD_DIR (default build), BUILD_TYPE (default Release), JOBS (default: number
# of CPUs), TARGETS (space-separated; default: all).
# Does not install packages: scripts/install-deps.sh does.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_dir=${BUILD_DIR:-build}
build_type=${BUILD_TYPE:-Release}
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE="$build_type" "$@"
target_args=()
for t in ${TARGETS:-}; do
  target_args+=(--target "$t")
done
cmake --build "$build_dir" -j "$jobs" "${target_args[@]}"
