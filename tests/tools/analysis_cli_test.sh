#!/usr/bin/env bash
# CLI tests of tracetool's analysis and export commands (tasks, usertasks, regions, pprof, diff,
# timeline, mmu, live, split) on the checked-in sample trace, run by ctest (one add_test per
# case, see CMakeLists.txt):
#   analysis_cli_test.sh CASE TRACETOOL SOURCE_DIR WORK_DIR
# Each case asserts; any failed assertion prints why and exits 1.
set -u
case_name=$1 tool=$2 src=$3 work=$4
sample=$src/testdata/sample.trace
mkdir -p "$work"
out=$work/$case_name.out err=$work/$case_name.err

fail() { echo "FAIL [$case_name]: $*" >&2; echo "--- stdout:" >&2; head -20 "$out" >&2; echo "--- stderr:" >&2; cat "$err" >&2; exit 1; }
run() {
  local want=$1; shift
  "$tool" "$@" >"$out" 2>"$err"
  local got=$?
  [[ $got == "$want" ]] || fail "tracetool $* exited $got, want $want"
}
expect_out() { grep -q -E -- "$1" "$out" || fail "stdout lacks /$1/"; }
expect_err() { grep -q -E -- "$1" "$err" || fail "stderr lacks /$1/"; }
expect_one_error_line() {
  [[ $(wc -l <"$err") == 1 ]] || fail "stderr is not one line"
  expect_err '^tracetool: '
}
need() { command -v "$1" >/dev/null || fail "$1 is not installed (scripts/install-deps.sh installs it)"; }

# Each command with the arguments it needs before the trace file.
commands=(
  "tasks" "usertasks" "regions" "pprof --kind=sync -o $work/p.pb.gz"
  "timeline -o $work/t.json" "mmu" "live" "split --generations 1 -o $work/split" "stats" "dump"
)

case $case_name in
  help)
    run 0 --help
    for c in tasks usertasks regions pprof diff timeline mmu live split; do
      expect_out "^  $c "
      run 0 "$c" --help
      expect_out "^Usage: tracetool $c"
      expect_out 'Example: tracetool'
      run 0 --help
    done
    ;;
  bad_input)
    # Cut the last generation with events: every command reports the reader's error (with its
    # offset) on one line and exits 1; none crashes or prints a result as if whole.
    size=$(stat -c %s "$sample")
    head -c $((size - 2500)) "$sample" >"$work/truncated.trace"
    for c in "${commands[@]}"; do
      # shellcheck disable=SC2086  # the arguments split on purpose
      run 1 $c "$work/truncated.trace"
      expect_one_error_line; expect_err 'offset'
      # shellcheck disable=SC2086
      run 1 $c "$work/no-such-file.trace"
      expect_one_error_line; expect_err 'no-such-file'
    done
    run 1 diff "$sample" "$work/truncated.trace"
    expect_one_error_line; expect_err 'truncated.trace: .*offset'
    ;;
  usage_errors)
    run 2 tasks --id 0 "$sample";            expect_one_error_line
    run 2 tasks --format=yaml "$sample";     expect_one_error_line
    run 2 pprof --kind=heap -o x "$sample";  expect_one_error_line
    run 2 pprof "$sample";                   expect_one_error_line; expect_err 'output'
    run 2 diff "$sample";                    expect_one_error_line
    run 2 pprof --cpu-period abc -o x "$sample"; expect_one_error_line; expect_err 'duration'
    ;;
  tasks)
    run 0 tasks "$sample"
    expect_out '^[0-9]+ tasks in [0-9]+ groups over '
    expect_out 'a task.s own wait wins'
    need jq
    run 0 tasks --format=json "$sample"
    jq -e '[.groups[].count] | add > 0' "$out" >/dev/null || fail "no tasks in the JSON"
    # Each group's states add up to its tasks' lives.
    jq -e 'all(.groups[]; ([.states[].total_ns] | add) == .life.total_ns)' "$out" >/dev/null ||
      fail "a group's states do not add up to its life"
    id=$(jq -r '[.groups[].longest[]] | max_by(.life_ns) | .id' "$out")
    run 0 tasks --id "$id" "$sample"
    expect_out "^task $id "
    expect_out '^  total '
    run 0 tasks --id "$id" --format=json "$sample"
    jq -e --argjson id "$id" '.id == $id and .found and (.spans | length) > 0' "$out" >/dev/null ||
      fail "tasks --id --format=json lacks the task's spans"
    run 0 tasks --id 999999 "$sample"
    expect_out 'does not appear'
    ;;
  pprof)
    need go
    export GOCACHE=$work/gocache HOME=${HOME:-$work}
    for kind in sync mutex sched syscall region; do
      run 0 pprof --kind=$kind -o "$work/$kind.pb.gz" "$sample"
      expect_out "^wrote $work/$kind.pb.gz: $kind profile"
      go tool pprof -raw "$work/$kind.pb.gz" >"$out" 2>"$err" ||
        fail "go tool pprof cannot read the $kind profile"
      expect_out '^Samples:'
    done
    go tool pprof -top -sample_index=delay "$work/sync.pb.gz" >"$out" 2>"$err" || fail "go tool pprof -top"
    expect_out 'Type: delay'
    go tool pprof -top -base "$work/sync.pb.gz" "$work/sync.pb.gz" >"$out" 2>"$err" ||
      fail "go tool pprof -base"
    # An unwritable output: exit 1 with the reason, nothing left behind.
    run 1 pprof -o /dev/full "$sample"
    expect_one_error_line; expect_err '/dev/full'
    [[ -c /dev/full ]] || fail "the failed write removed /dev/full (only a regular file may go)"
    run 1 pprof -o "$work/no/such/dir/p.pb.gz" "$sample"
    expect_one_error_line; expect_err 'cannot create'
    ;;
  diff)
    run 0 diff --kind=sync "$sample" "$sample"
    expect_out '^sync profile: before .*: \+0ns \(\+0\.0%\)'
    need jq
    run 0 diff --kind=mutex --format=json "$sample" "$sample"
    jq -e 'all(.call_sites[]; .delta_ns == 0)' "$out" >/dev/null || fail "a trace against itself changed"
    ;;
  timeline)
    need jq
    run 0 timeline -o "$work/t.json" "$sample"
    jq -e '.traceEvents | length > 0' "$work/t.json" >/dev/null || fail "timeline JSON does not parse"
    jq -e 'all(.traceEvents[]; has("ph") and has("pid"))' "$work/t.json" >/dev/null ||
      fail "a trace event lacks ph or pid"
    run 1 timeline -o /dev/full "$sample"
    expect_one_error_line
    [[ -c /dev/full ]] || fail "the failed write removed /dev/full (only a regular file may go)"
    ;;
  mmu)
    # The sample's one stop-the-world phase lasts 700 us (699989 ns): a 1 ms window holding it
    # keeps 30%, any window inside it none; the mean is what the phases leave.
    need jq
    run 0 mmu "$sample"
    expect_out '^mean utilization 0\.98'
    expect_out '^\*        1ms  0\.3000  '
    expect_out '^         1us  0\.0000  '
    run 0 mmu --format=json "$sample"
    jq -e '.stw_phases == 1 and .stw_ns == 699989 and .lost_events == 37' "$out" >/dev/null ||
      fail "mmu JSON: phases or losses"
    jq -e '[.points[] | select(.window_ns == 1000000)][0].mmu | . > 0.2999 and . < 0.3001' \
      "$out" >/dev/null || fail "mmu JSON: the 1 ms window"
    jq -e 'all(.points[]; .mmu >= 0 and .mmu <= 1) and
           (.points[-1] | .window_ns == 39840000) and
           ((.points[-1].mmu - .mean_utilization) | fabs < 1e-6)' "$out" >/dev/null ||
      fail "mmu JSON: a point out of [0, 1], or the whole trace's window is not the mean"
    run 0 mmu -o "$work/mmu.svg" "$sample"
    grep -q '^<svg ' "$work/mmu.svg" && tail -c 8 "$work/mmu.svg" | grep -q '</svg>' ||
      fail "mmu -o wrote no whole SVG"
    ;;
  live)
    # The sample's listing names one live task, the db pool's, running, with its label and
    # creation stack.
    need jq
    run 0 live "$sample"
    expect_out '^1 live tasks when the listing was written'
    expect_out '^task 100 "db-pool" running for [0-9.]+ms, on thread 4104, labels pool=db$'
    expect_out '^    tracer::sync::Pool::Submit'
    run 0 live --group "$sample"
    expect_out '^1 task: running, the longest for [0-9.]+ms \(task 100\)$'
    run 0 live --format=json "$sample"
    jq -e '.tasks | length == 1 and .[0].id == 100 and .[0].labels.pool == "db"' "$out" \
      >/dev/null || fail "live JSON"
    ;;
  split)
    # One generation a piece: each piece is a valid trace, and together they hold every event.
    need jq
    run 0 split --generations 1 -o "$work/pieces" "$sample"
    pieces=("$work"/pieces/sample.*.trace)
    (( ${#pieces[@]} >= 2 )) || fail "split made ${#pieces[@]} pieces"
    total=0
    for p in "${pieces[@]}"; do
      run 0 stats --format=json "$p"
      total=$((total + $(jq .events "$out")))
    done
    run 0 stats --format=json "$sample"
    (( total == $(jq .events "$out") )) || fail "the pieces hold $total events, the trace $(jq .events "$out")"
    run 2 split -o "$work/pieces2" "$sample"
    expect_one_error_line
    ;;
  *)
    echo "unknown case $case_name" >&2
    exit 2
    ;;
esac
echo "PASS [$case_name]"
