#!/usr/bin/env bash
# Real viewers read what tracetool writes: speedscope (the npm package), in Debian's headless
# Chromium through puppeteer-core, opens a timeline (`tracetool timeline --speedscope`) and a
# pprof profile (`tracetool pprof`) of testdata/sample.trace and lists the expected names in
# its Sandwich view (render_test.mjs). Screenshots go to OUT_DIR (docs/images/ holds copies).
#
#   speedscope_test.sh TRACETOOL SOURCE_DIR NODE_MODULES OUT_DIR
#
# NODE_MODULES is what `scripts/install-deps.sh --tests` installs (build-browser/node_modules).
set -uo pipefail
tool=$1 src=$2 modules=$3 out_dir=$4
fail() { echo "FAIL [speedscope]: $*" >&2; exit 1; }

command -v node >/dev/null || fail "node is not installed (scripts/install-deps.sh --tests installs it)"
[[ -x /usr/bin/chromium ]] || fail "chromium is not installed (scripts/install-deps.sh --tests installs it)"
[[ -d $modules/puppeteer-core && -d $modules/speedscope ]] ||
  fail "no puppeteer-core and speedscope under $modules (scripts/install-deps.sh --tests installs them)"
mkdir -p "$out_dir" || fail "cannot create $out_dir"
sample=$src/testdata/sample.trace
render() { node "$src/tests/browser/render_test.mjs" --modules "$modules" "$@" || fail "render_test.mjs $*"; }

# The timeline: a worker's regions track, whose Sandwich sums each region by name.
"$tool" timeline --speedscope -o "$out_dir/sample.json" "$sample" >/dev/null ||
  fail "tracetool timeline --speedscope exited $?"
render --profile "$out_dir/sample.json" --thread 'worker-1 T4102 regions' \
  --expect parse --expect db_query --screenshot "$out_dir/speedscope-timeline.png"
# Its state track: the task that ran and what it waited on, by name.
render --profile "$out_dir/sample.json" --thread 'worker-1 T4102 \(tid' \
  --expect request-handler --expect 'blocked mutex' --expect runnable
# The sync profile: the waits under the functions that waited.
"$tool" pprof --kind=sync -o "$out_dir/sync.pb.gz" "$sample" >/dev/null 2>&1 ||
  fail "tracetool pprof --kind=sync exited $?"
render --profile "$out_dir/sync.pb.gz" --expect 'demo::Db::Query(std::string_view)' \
  --expect 'demo::Cache::Lookup(unsigned long)' --expect 'tracer::sync::Mutex::Lock()' \
  --screenshot "$out_dir/speedscope-sync-profile.png"
# The mutex profile: charged to the unlockers.
"$tool" pprof --kind=mutex -o "$out_dir/mutex.pb.gz" "$sample" >/dev/null 2>&1 ||
  fail "tracetool pprof --kind=mutex exited $?"
render --profile "$out_dir/mutex.pb.gz" --expect 'demo::DbPool::Complete(demo::Reply)'
echo "PASS [speedscope]"
