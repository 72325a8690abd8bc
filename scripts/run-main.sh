#!/usr/bin/env bash
# The main job, on a fresh Debian 12 machine: installs what is missing, builds tracetool
# (Release, in build/) and runs it on the checked-in sample trace: a summary, then the first
# events.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-deps.sh
BUILD_DIR=${BUILD_DIR:-build} BUILD_TYPE=Release TARGETS=tracetool scripts/build.sh
build_dir=${BUILD_DIR:-build}

tool="$build_dir/tools/tracetool/tracetool"
sample=testdata/sample.trace
if [[ ! -x "$tool" ]]; then
  echo "run-main: $tool was not built (is tools/tracetool in the tree?)" >&2
  exit 1
fi
if [[ ! -f "$sample" ]]; then
  echo "run-main: $sample is missing (tools/sample generates it; it is checked in)" >&2
  exit 1
fi

echo "== tracetool stats $sample"
"$tool" stats "$sample"
echo
echo "== tracetool dump --limit 25 $sample"
"$tool" dump --limit 25 "$sample"
