#!/usr/bin/env bash
# Installs the Debian 12 packages that tracer's build, tests, benchmarks, tools and fuzzers
# need. Idempotent: runs apt-get (update, then install) only when something is missing.
# Runs as root, or through sudo otherwise. TRACER_SKIP_DEPS=1 skips it (other distributions:
# install the equivalents of the list below yourself).
set -euo pipefail

packages=(
  cmake make g++ pkg-config
  libabsl-dev liblz4-dev zlib1g-dev libconcurrentqueue-dev libunwind-dev libdw-dev
  libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev
  jq  # tests/tools parses tracetool's JSON output
  golang-go  # tests/tools reads tracetool's pprof profiles with `go tool pprof`
  clang libclang-rt-14-dev  # fuzzers (libFuzzer)
)

if [[ "${TRACER_SKIP_DEPS:-0}" == 1 ]]; then
  echo "install-deps: TRACER_SKIP_DEPS=1, not checking packages"
  exit 0
fi
if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
  echo "install-deps: not a Debian system (no dpkg-query/apt-get). Install these packages' equivalents" >&2
  echo "  ${packages[*]}" >&2
  echo "then run again with TRACER_SKIP_DEPS=1." >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages are installed"
  exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
  as_root=(env DEBIAN_FRONTEND=noninteractive)
elif command -v sudo >/dev/null; then
  as_root=(sudo env DEBIAN_FRONTEND=noninteractive)
else
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: not root and no sudo; as root run: apt-get install ${missing[*]}" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
