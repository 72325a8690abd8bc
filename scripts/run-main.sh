#!/usr/bin/env bash
# The main job, on a fresh Debian 12 machine: installs what is missing, builds the demo service
# and tracetool (Release, in build/), and runs tracer-demo: a service that misbehaves on purpose
# under a flight recorder, dumps its recent past when a request misses its budget, and explains
# the slowest request of a dump. Extra arguments go to tracer-demo (see tracer-demo --help).
# Dumps land in tracer-demo-out/ (DEMO_OUT to change it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-deps.sh
BUILD_DIR=${BUILD_DIR:-build} BUILD_TYPE=Release TARGETS="tracer-demo tracetool" scripts/build.sh
build_dir=${BUILD_DIR:-build}

demo="$build_dir/tools/demo/tracer-demo"
tool="$build_dir/tools/tracetool/tracetool"
for bin in "$demo" "$tool"; do
  if [[ ! -x "$bin" ]]; then
    echo "run-main: $bin was not built" >&2
    exit 1
  fi
done

echo "== $demo --out ${DEMO_OUT:-tracer-demo-out} $*"
"$demo" --out "${DEMO_OUT:-tracer-demo-out}" "$@"
