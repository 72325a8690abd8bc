#!/usr/bin/env bash
# Installs the Debian 12 packages that tracer's build, tools, benchmarks and fuzzers need;
# with --tests also what the tests use: a headless browser (Debian's chromium), Node.js and
# the npm packages of tests/browser (puppeteer-core, speedscope; pinned by its
# package-lock.json) in build-browser/. Idempotent: runs apt-get (update, then install) only
# when something is missing, and npm only when the lock file changed.
# Runs as root, or through sudo otherwise (npm runs as the caller). TRACER_SKIP_DEPS=1 skips
# it (other distributions: install the equivalents of the lists below yourself).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

tests=0
for arg in "$@"; do
  case $arg in
    --tests) tests=1 ;;
    *) echo "usage: scripts/install-deps.sh [--tests]" >&2; exit 2 ;;
  esac
done

packages=(
  cmake make g++ pkg-config
  libabsl-dev liblz4-dev zlib1g-dev libconcurrentqueue-dev libunwind-dev libdw-dev
  libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev
  jq  # tests/tools parses tracetool's JSON output
  golang-go  # `go tool pprof` reads tracetool's profiles (the demo prints the commands; tests)
  clang libclang-rt-14-dev  # fuzzers (libFuzzer)
)
if (( tests )); then
  packages+=(chromium)  # tests/browser opens timelines and profiles in speedscope, headless
  # Node.js and npm for tests/browser, unless a node and an npm are already installed (from
  # another source, whose nodejs package would conflict with Debian's npm).
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    packages+=(nodejs npm)
  fi
fi

# tests/browser's npm packages, into build-browser/ (every build directory's tests use it).
install_browser_modules() {
  local dir=build-browser stamp
  stamp=$(sha256sum tests/browser/package-lock.json | cut -d' ' -f1)
  if [[ -f $dir/.installed && $(cat "$dir/.installed") == "$stamp" && -d $dir/node_modules ]]; then
    echo "install-deps: $dir/node_modules is up to date"
    return
  fi
  echo "install-deps: npm ci in $dir (puppeteer-core, speedscope)"
  mkdir -p "$dir"
  cp tests/browser/package.json tests/browser/package-lock.json "$dir/"
  npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
  echo "$stamp" >"$dir/.installed"
}

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
  if (( tests )); then install_browser_modules; fi
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
if (( tests )); then install_browser_modules; fi
echo "install-deps: done"
