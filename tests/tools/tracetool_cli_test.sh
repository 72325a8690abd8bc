#!/usr/bin/env bash
# CLI tests of tracetool, run by ctest (one add_test per case, see CMakeLists.txt).
#   tracetool_cli_test.sh CASE TRACETOOL MAKE_SAMPLE_TRACE SOURCE_DIR WORK_DIR
# Each case asserts; any failed assertion prints why and exits 1.
set -u
case_name=$1 tool=$2 maker=$3 src=$4 work=$5
sample=$src/testdata/sample.trace
mkdir -p "$work"
out=$work/$case_name.out err=$work/$case_name.err

fail() { echo "FAIL [$case_name]: $*" >&2; echo "--- stdout:" >&2; head -20 "$out" >&2; echo "--- stderr:" >&2; cat "$err" >&2; exit 1; }
# run EXPECTED_CODE ARGS...: runs tracetool, asserts its exit code.
run() {
  local want=$1; shift
  "$tool" "$@" >"$out" 2>"$err"
  local got=$?
  [[ $got == "$want" ]] || fail "tracetool $* exited $got, want $want"
}
expect_out() { grep -q -- "$1" "$out" || fail "stdout lacks '$1'"; }
expect_err() { grep -q -- "$1" "$err" || fail "stderr lacks '$1'"; }
# A usage or input error is exactly one line 'tracetool: ...' on stderr.
expect_one_error_line() {
  [[ $(wc -l <"$err") == 1 ]] || fail "stderr is not one line"
  expect_err '^tracetool: '
}
# jq is a test dependency (scripts/install-deps.sh installs it): without it a case that checks
# JSON fails rather than skipping its checks.
need_jq() { command -v jq >/dev/null || fail "jq is not installed (scripts/install-deps.sh installs it)"; }
# Every stdout line must parse as JSON with the keys dump promises. -s reads all the lines into
# one array (plain `jq -e` would judge the last line's result alone).
check_jsonl() {
  need_jq
  jq -s -e 'length > 0 and all(.[]; type == "object" and has("ts_ns") and has("real_ns") and has("thread") and has("type"))' \
    "$out" >/dev/null ||
    fail "a jsonl line does not parse or lacks ts_ns/real_ns/thread/type"
}

case $case_name in
  help)
    run 0 --help
    expect_out 'Usage: tracetool'; expect_out 'stats'; expect_out 'dump'
    run 0 stats --help
    expect_out 'Usage: tracetool stats'; expect_out '--format'
    run 0 dump --help
    expect_out 'Usage: tracetool dump'; expect_out '--limit'; expect_out 'jsonl'
    run 0 regions --help
    expect_out 'Usage: tracetool regions'; expect_out '--name'; expect_out '--top'
    expect_out 'Example: tracetool regions'
    run 0 usertasks --help
    expect_out 'Usage: tracetool usertasks'; expect_out '--type'; expect_out 'Example: tracetool usertasks'
    ;;
  usage_errors)
    run 2;                                   expect_one_error_line
    run 2 frobnicate "$sample";              expect_one_error_line; expect_err "unknown command 'frobnicate'"
    run 2 stats;                             expect_one_error_line; expect_err 'file'
    run 2 dump;                              expect_one_error_line
    run 2 dump --bogus "$sample";            expect_one_error_line; expect_err 'bogus'
    run 2 dump --format=xml "$sample";       expect_one_error_line
    run 2 dump --limit=-3 "$sample";         expect_one_error_line
    run 2 stats --format=yaml "$sample";     expect_one_error_line
    run 2 stats "$sample" extra;             expect_one_error_line
    ;;
  bad_input)
    run 1 stats "$work/does-not-exist.trace"; expect_one_error_line; expect_err 'No such file'
    printf 'not a trace at all' >"$work/garbage.trace"
    run 1 dump "$work/garbage.trace";         expect_one_error_line; expect_err 'bad magic'
    run 1 stats "$work/garbage.trace";        expect_one_error_line
    ;;
  stats)
    run 0 stats "$sample"
    expect_out '^generations: *4 (1 compressed)'
    expect_out '^threads: *4'
    expect_out '"worker-2"'
    expect_out '^runtime tasks: *33'
    expect_out '^live at the end: *1 (1 running, 0 in syscall, 0 runnable, 0 blocked)'
    expect_out '^user tasks: *32'
    expect_out '^events: *875 '
    expect_out '^  TaskBlock  *64$'
    expect_out '^wall-clock start: 2024-03-01T09:00:00'
    expect_out '^losses: *1 records, 37 events lost'
    [[ -z $(cat "$err") ]] || fail "stderr not empty"
    run 0 stats --format=json "$sample"
    [[ $(wc -l <"$out") == 1 ]] || fail "json stats is not one line"
    need_jq
    [[ $(jq '.events' "$out") == 875 ]] || fail "json events != 875"
    [[ $(jq '.live_tasks.total' "$out") == 1 ]] || fail "json live_tasks.total != 1"
    [[ $(jq '.events_by_type.PhaseBegin' "$out") == 2 ]] || fail "json PhaseBegin != 2"
    [[ $(jq '.compressed_generations' "$out") == 1 ]] || fail "json compressed != 1"
    [[ $(jq -r '.wall_clock_start' "$out") == 2024-03-01T09:00:00* ]] || fail "json wall clock"
    ;;
  dump_text)
    run 0 dump "$sample"
    [[ $(wc -l <"$out") == 875 ]] || fail "dump printed $(wc -l <"$out") lines, want 875"
    expect_out ' T4101 ThreadStart$'
    expect_out 'TaskBlock task=1000 reason=mutex object=94355073273920 stack=3'
    expect_out 'PhaseBegin name="gc" flags=stw'
    expect_out 'Log task=1 category="http" message="GET /api/users/40"'
    run 0 dump --limit 5 "$sample"
    [[ $(wc -l <"$out") == 5 ]] || fail "--limit 5 printed $(wc -l <"$out") lines"
    ;;
  dump_jsonl)
    run 0 dump --format=jsonl "$sample"
    [[ $(wc -l <"$out") == 875 ]] || fail "jsonl printed $(wc -l <"$out") lines, want 875"
    check_jsonl
    expect_out '"type":"TaskCreate","task":1000,"parent":0,"name":"request-handler","labels":1,"stack":2}'
    expect_out '"type":"TaskBlock","task":1000,"reason":"mutex",'
    expect_out '"category":"http","message":"GET /api/users/40"'
    ;;
  truncated)
    # Cut the file in the middle of its last generation with events (the listing that ends it
    # is about 1.5 KB): the events of the generations before it are printed, then one error
    # line naming the offset, and exit 1.
    size=$(stat -c %s "$sample")
    head -c $((size - 2500)) "$sample" >"$work/truncated.trace"
    run 1 dump "$work/truncated.trace"
    expect_one_error_line; expect_err 'offset'
    lines=$(wc -l <"$out")
    (( lines > 400 && lines < 875 )) || fail "truncated dump printed $lines events"
    "$tool" dump "$sample" | head -n "$lines" | cmp -s - "$out" ||
      fail "the events before the damage differ from the intact trace's"
    run 1 stats "$work/truncated.trace"
    expect_one_error_line; expect_err 'offset'
    [[ -z $(cat "$out") ]] || fail "stats printed numbers for a corrupt trace"
    ;;
  corrupt_payload)
    # Flip one byte inside the first generation's payload: its CRC catches it.
    cp "$sample" "$work/flipped.trace"
    printf '\xff' | dd of="$work/flipped.trace" bs=1 seek=200 conv=notrunc status=none
    run 1 dump "$work/flipped.trace"
    expect_one_error_line; expect_err 'checksum'; expect_err 'offset 16'
    ;;
  regions)
    run 0 regions --top 1 "$sample"
    expect_out '^regions: 64 complete under 2 names'
    expect_out 'warning: the trace lost 37 events'
    expect_out '^region "db_query": 32 complete'
    expect_out '^  where the time went: blocked channel .*syscall .*running .*runnable'
    expect_out '^region "parse": 32 complete'
    run 0 regions --format=json --name parse "$sample"
    need_jq
    [[ $(jq '.regions | length' "$out") == 1 ]] || fail "--name parse kept another region"
    [[ $(jq '.regions[0].count' "$out") == 32 ]] || fail "json parse count != 32"
    # The breakdown's parts add up to the regions' total time.
    jq -e '.regions[0] | ([.breakdown_ns[]] | add) == .total_ns' "$out" >/dev/null ||
      fail "the breakdown does not add up to total_ns"
    run 2 regions --top=-1 "$sample"; expect_one_error_line
    size=$(stat -c %s "$sample")
    head -c $((size - 2500)) "$sample" >"$work/truncated.trace"
    run 1 regions "$work/truncated.trace"; expect_one_error_line; expect_err 'offset'
    ;;
  usertasks)
    run 0 usertasks --top 1 "$sample"
    expect_out '^user tasks: 32 complete of 1 types'
    expect_out 'warning: the trace lost 37 events'
    expect_out '^user task "handle_request": 32 complete'
    expect_out '^  where the time went: blocked channel .*running .*blocked mutex'
    run 0 usertasks --format=json "$sample"
    need_jq
    [[ $(jq '.types[0].count' "$out") == 32 ]] || fail "json handle_request count != 32"
    # Each slowest task's parts (thread time plus the time between threads) are at least its
    # wall time: equal unless threads worked for it in parallel.
    jq -e '.types[0].slowest | all(.[]; ([.breakdown_ns[]] | add) + .between_threads_ns >= .duration_ns)' \
      "$out" >/dev/null || fail "a task's parts fall short of its duration"
    run 0 usertasks --type nothing-of-the-kind "$sample"
    expect_out '^user tasks: 0 complete of 0 types'
    size=$(stat -c %s "$sample")
    head -c $((size - 2500)) "$sample" >"$work/truncated.trace"
    run 1 usertasks "$work/truncated.trace"; expect_one_error_line; expect_err 'offset'
    ;;
  readme)
    # The commands testdata/README.md shows.
    (cd "$src" && "$tool" stats testdata/sample.trace) >"$out" 2>"$err" || fail "stats failed"
    (cd "$src" && "$tool" dump testdata/sample.trace | head) >"$out" 2>"$err"
    [[ $(wc -l <"$out") == 10 ]] || fail "dump | head did not print 10 lines"
    ;;
  sample_up_to_date)
    # testdata/sample.trace is exactly what the generator writes today.
    "$maker" "$work/regenerated.trace" || fail "make_sample_trace failed"
    cmp -s "$work/regenerated.trace" "$sample" ||
      fail "testdata/sample.trace is stale: regenerate it with make_sample_trace (see testdata/README.md)"
    size=$(stat -c %s "$sample")
    (( size < 200 * 1024 )) || fail "sample.trace is $size bytes (limit 200 KB)"
    ;;
  filters)
    # Each filter on dump and on stats, which agree on the count; filters combine as AND.
    run 0 dump --type TaskBlock "$sample"
    [[ $(wc -l <"$out") == 64 ]] || fail "--type TaskBlock printed $(wc -l <"$out") lines, want 64"
    grep -qv ' TaskBlock ' "$out" && fail "--type TaskBlock printed another type"
    run 0 dump --type taskblock,TaskStart --type TaskUnblock "$sample"
    (( $(grep -c ' TaskStart ' "$out") == 103 )) || fail "--type list lacks the 103 TaskStarts"
    grep -qv ' Task\(Block\|Start\|Unblock\) ' "$out" && fail "--type list printed another type"
    run 0 dump --thread worker-1 "$sample"
    [[ $(wc -l <"$out") == 287 ]] || fail "--thread worker-1 printed $(wc -l <"$out") lines"
    grep -qv ' T4102 ' "$out" && fail "--thread worker-1 printed another thread's event"
    cp "$out" "$work/by_name.out"
    run 0 dump --thread 4102 "$sample"
    cmp -s "$out" "$work/by_name.out" || fail "--thread 4102 differs from --thread worker-1"
    run 0 stats --thread worker-1 "$sample"
    expect_out '^filter: *--thread worker-1 '; expect_out '^events: *287 matching of 875 '
    # --task 1000: its own events, and those of the threads running it (its regions, logs).
    run 0 dump --task 1000 "$sample"
    [[ $(wc -l <"$out") == 20 ]] || fail "--task 1000 printed $(wc -l <"$out") lines, want 20"
    expect_out 'T4101 TaskCreate task=1000 '; expect_out 'T4104 TaskUnblock task=1000 '
    expect_out 'T4102 Log task=1 category="http"'
    grep -q 'task=1001 ' "$out" && fail "--task 1000 printed task 1001's events"
    run 0 stats --task 1000 --format=json "$sample"
    need_jq
    [[ $(jq '.events' "$out") == 20 && $(jq '.total_events' "$out") == 875 ]] ||
      fail "json --task 1000: events $(jq '.events' "$out") of $(jq '.total_events' "$out")"
    [[ $(jq -r '.filter' "$out") == '--task 1000' ]] || fail "json filter: $(jq -r '.filter' "$out")"
    run 0 dump --task 1000 --type TaskStart "$sample"
    [[ $(wc -l <"$out") == 3 ]] || fail "--task 1000 --type TaskStart printed $(wc -l <"$out")"
    # --from/--to: since the first event (18000000009984 ns), both edges included.
    run 0 dump --from 1ms --to 2ms "$sample"
    [[ $(wc -l <"$out") == 23 ]] || fail "--from 1ms --to 2ms printed $(wc -l <"$out") lines"
    awk '$1 < 18000001009984 || $1 > 18000002009984 { bad = 1 } END { exit bad }' "$out" ||
      fail "an event outside the window"
    head -1 "$out" | grep -q '^18000001009984 ' || fail "the event at exactly --from is missing"
    run 0 stats --from 1ms --to 2ms "$sample"; expect_out '^events: *23 matching of 875 '
    # --label: the db pool's task 100 (TaskCreate labels) and what its thread does running it.
    run 0 dump --label pool=db "$sample"
    [[ $(wc -l <"$out") == 66 ]] || fail "--label pool=db printed $(wc -l <"$out") lines"
    expect_out 'TaskCreate task=100 parent=0 name="db-pool" labels=2'
    grep -q 'request-handler' "$out" && fail "--label pool=db printed a request handler"
    run 0 stats --label pool=db "$sample"; expect_out '^events: *66 matching of 875 '
    run 0 dump --label endpoint=/api/users --label pool=db "$sample"
    [[ -z $(cat "$out") ]] || fail "two labels no task holds both of matched"
    run 0 dump --thread worker-1 --type TaskBlock --from 1ms "$sample"
    grep -qv ' T4102 TaskBlock ' "$out" && fail "a combined filter let another event through"
    # Bad values are usage errors, on both commands.
    for cmd in dump stats; do
      run 2 $cmd --from abc "$sample";          expect_one_error_line; expect_err 'abc'
      run 2 $cmd --to -1ms "$sample";           expect_one_error_line
      run 2 $cmd --type NoSuchType "$sample";   expect_one_error_line; expect_err "unknown event type 'NoSuchType'"
      run 2 $cmd --type TaskBlock, "$sample";   expect_one_error_line
      run 2 $cmd --label pool "$sample";        expect_one_error_line; expect_err 'key=value'
      run 2 $cmd --task x "$sample";            expect_one_error_line
      run 2 $cmd --task -3 "$sample";           expect_one_error_line
      run 2 $cmd --from 2ms --to 1ms "$sample"; expect_one_error_line; expect_err '--to'
    done
    # Damage is still the reader's error: what precedes it is printed, then exit 1.
    size=$(stat -c %s "$sample")
    head -c $((size - 2500)) "$sample" >"$work/truncated.trace"
    run 1 dump --type TaskBlock "$work/truncated.trace"; expect_one_error_line; expect_err 'offset'
    [[ $(wc -l <"$out") -gt 0 ]] || fail "nothing before the damage was printed"
    run 1 stats --task 1000 "$work/truncated.trace"; expect_one_error_line; expect_err 'offset'
    [[ -z $(cat "$out") ]] || fail "stats printed numbers for a corrupt trace"
    ;;
  dump_stacks)
    # Each frame of an event's stack, indented, after it: function (file:line), or the
    # function alone when the trace has no file for it.
    run 0 dump --stacks --type TaskBlock --limit 1 "$sample"
    expect_out '^18000000499989 T4102 TaskBlock task=1000 reason=mutex object=94355073273920 stack=3$'
    [[ $(sed -n 2p "$out") == '    tracer::sync::Mutex::Lock() (tracer/sync/mutex.cc:52)' ]] ||
      fail "the innermost frame: '$(sed -n 2p "$out")'"
    [[ $(wc -l <"$out") == 5 ]] || fail "stack 3 has 4 frames: $(wc -l <"$out") lines"
    # A frame the trace names without a file: the symbolizer looks for its object and says
    # why it found no line (the sample's PCs are in no mapping), with a count on stderr.
    run 0 dump --stacks --type SyscallBegin "$sample"
    expect_out '^    __libc_sendto \[no file:line: no mapping\]$'
    grep -q 'file and line for 0 of 1 distinct PCs; none for 1: no mapping 1' "$err" ||
      fail "no symbolizer summary on stderr: $(cat "$err")"
    run 0 dump --stacks --no-symbolize --type SyscallBegin "$sample"
    expect_out '^    __libc_sendto$'
    [[ ! -s $err ]] || fail "--no-symbolize wrote to stderr: $(cat "$err")"
    run 0 dump --stacks --task 1000 "$sample"
    # Events with stack=0 or no stack argument get no frame lines.
    awk '/^    / { if (!prev_has_stack) exit 1; next } { prev_has_stack = ($0 ~ / stack=[1-9]/) }' "$out" ||
      fail "frames after an event without a stack"
    run 0 dump --stacks --format=jsonl --type TaskBlock --limit 1 "$sample"
    check_jsonl
    [[ $(jq -r '.stack_frames[0].func' "$out") == 'tracer::sync::Mutex::Lock()' ]] ||
      fail "jsonl stack_frames[0].func"
    [[ $(jq '.stack_frames[0].line' "$out") == 52 && $(jq '.stack_frames | length' "$out") == 4 ]] ||
      fail "jsonl stack_frames line or length"
    run 0 dump --format=jsonl --type TaskBlock --limit 1 "$sample"
    [[ $(jq 'has("stack_frames")' "$out") == false ]] || fail "stack_frames without --stacks"
    ;;
  *)
    echo "unknown case $case_name" >&2; exit 1 ;;
esac
exit 0
