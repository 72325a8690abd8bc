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

# A cache made for another source directory (a moved checkout, or a build tree copied from
# another machine) makes CMake refuse to run: start that build directory afresh.
cache="$build_dir/CMakeCache.txt"
if [[ -f "$cache" ]]; then
  home=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$cache")
  if [[ "$(cd "$home" 2>/dev/null && pwd -P)" != "$(pwd -P)" ]]; then
    echo "build: $build_dir was configured for ${home:-another source tree}; reconfiguring it afresh"
    rm -rf "$cache" "$build_dir/CMakeFiles"
  fi
fi

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE="$build_type" "$@"
target_args=()
for t in ${TARGETS:-}; do
  target_args+=(--target "$t")
done
cmake --build "$build_dir" -j "$jobs" "${target_args[@]}"
