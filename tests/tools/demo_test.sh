#!/usr/bin/env bash
# End-to-end test of tracer-demo, run by ctest (see CMakeLists.txt).
#   demo_test.sh TRACER_DEMO TRACETOOL WORK_DIR
# Runs the demo for 3 s with a 5 ms budget (so that it dumps) into a fresh directory under
# WORK_DIR, then reads its newest dump with tracetool and asserts it holds what the demo is
# built to show: mutex and rwmutex waits, the stop-the-world "compaction" phase, the requests'
# user tasks, regions and labels, and the slowed pread. Any failed assertion prints why and
# exits 1.
set -u
demo=$1 tool=$2 work=$3
mkdir -p "$work"
dir=$(mktemp -d "$work/run.XXXXXX")
out=$dir/demo.out err=$dir/demo.err events=$dir/dump.txt

fail() { echo "FAIL [demo]: $*" >&2; echo "--- stdout:" >&2; head -40 "$out" >&2; echo "--- stderr:" >&2; cat "$err" >&2; exit 1; }
expect_out() { grep -q -E -- "$1" "$out" || fail "demo stdout lacks /$1/"; }
expect_event() { grep -q -E -- "$1" "$events" || fail "the dump ($newest) has no event matching /$1/"; }
command -v jq >/dev/null || fail "jq is not installed (scripts/install-deps.sh installs it)"

# --help documents every flag.
"$demo" --help >"$out" 2>"$err" || fail "tracer-demo --help exited $?"
for flag in --rate --threads --duration --budget --out --dump-interval --keep-dumps; do
  expect_out "$flag"
done
# A bad duration is a usage error (2) with one line on stderr.
"$demo" --duration forever --out "$dir" >"$out" 2>"$err"
[[ $? == 2 ]] || fail "tracer-demo --duration forever did not exit 2"
[[ $(wc -l <"$err") == 1 ]] && grep -q '^tracer-demo: ' "$err" ||
  fail "the usage error is not one line 'tracer-demo: ...' on stderr"

"$demo" --duration 3s --budget 5ms --dump-interval 1s --keep-dumps 2 --out "$dir/out" \
  >"$out" 2>"$err"
rc=$?
[[ $rc == 0 ]] || fail "tracer-demo exited $rc, want 0"
expect_out '^GET /item +[0-9]+ '
expect_out '^GET /search +[0-9]+ '
expect_out '^== The slowest request in '
expect_out '^slowest request: user task [0-9]+ "GET /'
expect_out 'tracetool stats '

shopt -s nullglob
dumps=("$dir"/out/slow-*.trace)
(( ${#dumps[@]} >= 1 )) || fail "no dump file in $dir/out"
(( ${#dumps[@]} <= 2 )) || fail "${#dumps[@]} dumps kept, --keep-dumps 2"
for d in "${dumps[@]}"; do
  mode=$(stat -c %a "$d")
  [[ $mode == 600 ]] || fail "$d has mode $mode, want 600"
done
newest=${dumps[${#dumps[@]}-1]}  # names end in a zero-padded sequence number: glob order

"$tool" dump "$newest" >"$events" 2>"$err" || fail "tracetool dump $newest exited $?"
expect_event 'TaskBlock task=[0-9]+ reason=mutex '
expect_event 'TaskBlock task=[0-9]+ reason=rwmutex '
expect_event 'TaskUnblock task=[0-9]+ seq=[0-9]+ waker=[1-9]'
expect_event 'PhaseBegin name="compaction" flags=stw'
expect_event 'UserTaskBegin task=[0-9]+ parent=[0-9]+ name="GET /item"'
expect_event 'UserTaskEnd task=[0-9]+'
expect_event 'RegionBegin task=[0-9]+ name="lookup"'
expect_event 'Labels task=[0-9]+ labels=[1-9]'
expect_event 'SyscallBegin name="pread"'
# The handler->writer stage is a tracer::Channel: the idle writer waits on it.
expect_event 'TaskBlock task=[0-9]+ reason=channel '

"$tool" stats --format=json "$newest" >"$out" 2>"$err" || fail "tracetool stats $newest exited $?"
jq -e '.events_by_type.TaskBlock > 0 and .events_by_type.PhaseBegin > 0 and
       .events_by_type.Labels > 0 and .user_tasks > 0' "$out" >/dev/null ||
  fail "tracetool stats --format=json of $newest lacks TaskBlock, PhaseBegin, Labels or user tasks"
# The printed next steps run: the dump's requests, with the mutex waits in their time.
"$tool" usertasks --format=json "$newest" >"$out" 2>"$err" || fail "tracetool usertasks $newest exited $?"
jq -e '[.types[].name] | index("GET /item") != null' "$out" >/dev/null ||
  fail "tracetool usertasks of $newest has no GET /item"
jq -e '[.types[].breakdown_ns["blocked mutex"] // 0] | add > 0' "$out" >/dev/null ||
  fail "tracetool usertasks of $newest charges no mutex wait to a request"
"$tool" regions --name lookup "$newest" >"$out" 2>"$err" || fail "tracetool regions $newest exited $?"
expect_out '^region "lookup": [1-9]'
# Runtime tasks: the handler pool's jobs, with their queue time and mutex waits; one job's
# timeline names its waker.
"$tool" tasks --format=json "$newest" >"$out" 2>"$err" || fail "tracetool tasks $newest exited $?"
jq -e '.groups[] | select(.name == "handlers") | .count > 0 and .states.runnable.total_ns > 0' \
  "$out" >/dev/null || fail "tracetool tasks of $newest has no handlers group with runnable time"
job=$(jq -r '.groups[] | select(.name == "handlers") | .longest[0].id' "$out")
"$tool" tasks --id "$job" "$newest" >"$out" 2>"$err" || fail "tracetool tasks --id $job exited $?"
expect_out "^task $job \"handlers\""
expect_out '^  \+[0-9.]+s .* running on thread [0-9]+'

# Profiles, read by the real client: go tool pprof (Debian's golang-go, installed by the test
# set-up). The mutex profile names the unlock sites, the sync profile the waiters.
command -v go >/dev/null || fail "go is not installed (scripts/install-deps.sh installs golang-go)"
export GOCACHE=$dir/gocache HOME=${HOME:-$dir}
for kind in sync mutex sched syscall region; do
  "$tool" pprof --kind=$kind -o "$dir/$kind.pb.gz" "$newest" >"$out" 2>"$err" ||
    fail "tracetool pprof --kind=$kind exited $?: $(cat "$err")"
  expect_out "^wrote $dir/$kind.pb.gz: $kind profile, [1-9]"
  go tool pprof -top -sample_index=delay "$dir/$kind.pb.gz" >"$out" 2>"$err" ||
    { [[ $kind == region ]] && go tool pprof -top "$dir/$kind.pb.gz" >"$out" 2>"$err"; } ||
    fail "go tool pprof -top $kind.pb.gz exited $?: $(cat "$err")"
  case $kind in
    mutex) expect_out 'tracer::Mutex::UnlockSlow'; expect_out 'Service::(Refresher|Compactor)Loop';;
    sync) expect_out 'Service::Handle'; expect_out 'Service::WriterLoop';;
    sched) expect_out 'Service::Generate';;
    syscall) expect_out 'Service::RefresherLoop';;
    region) expect_out 'region lookup';;
  esac
done
# Labels are sample labels: -tagfocus slices by endpoint.
go tool pprof -top -tagfocus=endpoint=/item "$dir/sync.pb.gz" >"$out" 2>"$err" ||
  fail "go tool pprof -tagfocus exited $?: $(cat "$err")"
expect_out 'Service::Handle'
go tool pprof -tags "$dir/mutex.pb.gz" >"$out" 2>"$err" || fail "go tool pprof -tags exited $?"
expect_out 'endpoint: '
# -base between two of our profiles.
"$tool" pprof --kind=sync --region=lookup -o "$dir/lookup.pb.gz" "$newest" >/dev/null 2>"$err" ||
  fail "tracetool pprof --region lookup exited $?"
go tool pprof -top -base "$dir/lookup.pb.gz" "$dir/sync.pb.gz" >"$out" 2>"$err" ||
  fail "go tool pprof -base exited $?: $(cat "$err")"
expect_out 'Service::WriterLoop'
# File and line from the demo's DWARF (its service is built with -g): in pprof's locations
# and in dump --stacks; frames without debug info are counted on stderr with the reason.
go tool pprof -top -lines -sample_index=delay "$dir/sync.pb.gz" >"$out" 2>"$err" ||
  fail "go tool pprof -lines exited $?: $(cat "$err")"
expect_out 'Service::WriterLoop .*demo_service\.cc:[0-9]+'
"$tool" dump --stacks --type TaskBlock --limit 200 "$newest" >"$out" 2>"$err" ||
  fail "tracetool dump --stacks exited $?: $(cat "$err")"
expect_out '^    tracer_demo_internal::Service::[A-Za-z]+\(\) \(.*demo_service\.cc:[0-9]+\)$'
grep -Eq 'file and line for [1-9][0-9]* of [0-9]+ distinct PCs' "$err" ||
  fail "tracetool dump --stacks did not say how many PCs it symbolized: $(cat "$err")"
rm -rf "$dir"
echo "PASS [demo]"
