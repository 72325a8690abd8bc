// EventFilter: which events of a trace `tracetool dump` prints and `tracetool stats` counts,
// decided one event at a time in a single streaming pass (--thread, --task, --type,
// --from/--to, --label).
//
// Terms. An event's *subject* is the runtime task it is about:
//   - the runtime-task events (TaskCreate, TaskStart, TaskBlock, TaskUnblock, TaskYield,
//     TaskEnd, Labels, CpuSample) name it in args[0], `task`: TaskCreate's subject is the task
//     created, TaskUnblock's the task woken (not its `waker`). Labels and CpuSample with task 0
//     have no subject (they are about the thread itself);
//   - every other event (syscalls, phases, user tasks, regions, logs, counters,
//     SetCurrentUserTask, ThreadStart/Stop) has for subject the task its thread runs at that
//     moment: the task of the thread's last TaskStart, until that task's TaskBlock, TaskYield or
//     TaskEnd (or the task the generation's task table states running on the thread), else
//     none.
//
// An event matches when every filter given holds (filters not given hold for every event):
//   threads  its thread's id is one of `threads`, or its thread carries one of those names in
//            the thread table of this or an earlier generation;
//   tasks    its subject is *kept*: one of `tasks`, or a task created (TaskCreate's `parent`,
//            or a task-table entry's parent) by a kept task, transitively. A task stops being
//            kept after its TaskEnd. User tasks (UserTaskBegin..End) are not runtime tasks:
//            their events match by the subject rule above;
//   types    its type is one of `types`;
//   window   from_ns <= its time <= to_ns, in ns since the first event of the stream;
//   labels   its *label set* holds every key=value of `labels`: the subject's current set
//            (TaskCreate's `labels`, then each Labels event of the task; the task table's at a
//            generation's start), or with no subject the thread's own (its Labels events with
//            task 0; empty before the first). An event that sets a label set (TaskCreate,
//            Labels) is judged with the set it sets.
//
// Memory: the kept tasks and the labelled tasks that are alive, the task each thread runs,
// and the threads: what is live, not the trace's length. Not thread-safe.

#ifndef TRACER_TOOLS_ANALYSIS_EVENT_FILTER_H_
#define TRACER_TOOLS_ANALYSIS_EVENT_FILTER_H_

#include <bitset>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "format/event_table.h"
#include "format/generation.h"

namespace tracer::analysis {

inline constexpr int64_t kFilterNoEnd = -1;

struct EventFilterOptions {
  std::vector<std::string> threads;  // thread ids (decimal) or thread names
  std::vector<uint64_t> tasks;       // runtime task ids, kept with the tasks they create
  std::vector<format::EventType> types;
  int64_t from_ns = 0;           // since the first event
  int64_t to_ns = kFilterNoEnd;  // kFilterNoEnd: to the end
  std::vector<std::pair<std::string, std::string>> labels;  // key, value: all must hold

  // True if no filter is given: every event matches.
  bool empty() const {
    return threads.empty() && tasks.empty() && types.empty() && from_ns == 0 &&
           to_ns == kFilterNoEnd && labels.empty();
  }
  // The filters as command-line flags ("--thread worker --type TaskBlock,TaskStart"), empty
  // if none: what `stats` prints to say a filter applied.
  std::string Description() const;
};

// Event type names as the dumpers print them (format/event_table.h: "TaskBlock"), compared
// without case, each value holding one or more separated by commas. InvalidArgument naming
// the bad name and the valid ones for an unknown or empty name.
absl::StatusOr<std::vector<format::EventType>> ParseEventTypes(
    const std::vector<std::string>& values);
// "key=value" (the key not empty; the value may be). InvalidArgument otherwise.
absl::StatusOr<std::pair<std::string, std::string>> ParseLabel(absl::string_view value);

class EventFilter {
 public:
  explicit EventFilter(EventFilterOptions options);

  // Takes in the generation's thread names and task table. Call for every generation, in
  // file order, before Match on its events.
  void BeginGeneration(const format::Generation& gen);
  // Whether `e` (of `gen`) matches; updates what the filter tracks. Call for every event of
  // the trace in stream order (generations in file order, each merged in time order), the
  // ones that do not match included: tasks and labels follow from them.
  bool Match(const format::Generation& gen, const format::Event& e);
  // True once an event after to_ns was seen: no later event of a time-ordered stream matches.
  bool past_end() const { return past_end_; }
  const EventFilterOptions& options() const { return options_; }

 private:
  // The event's subject (0: none), the rule in the file comment.
  uint64_t SubjectOf(const format::Event& e) const;
  // Whether label set `id` of `gen` holds every label asked for.
  bool HoldsLabels(const format::Generation& gen, uint64_t id) const;
  static void SetLabels(absl::flat_hash_set<uint64_t>* set, uint64_t key, bool holds) {
    if (holds) {
      set->insert(key);
    } else {
      set->erase(key);
    }
  }
  // The effects of `e` on kept tasks, labels and running tasks that its own match sees
  // (TaskCreate, TaskStart, Labels).
  void ApplyBefore(const format::Generation& gen, const format::Event& e);
  // The effects that come after its match (TaskBlock, TaskYield, TaskEnd).
  void ApplyAfter(const format::Event& e);

  const EventFilterOptions options_;
  std::bitset<static_cast<size_t>(format::EventType::kNumEventTypes)> types_;
  absl::flat_hash_set<uint64_t> thread_ids_;  // named by id, or by name in some generation
  absl::flat_hash_set<std::string> thread_names_;
  absl::flat_hash_set<uint64_t> kept_;            // alive tasks --task keeps
  absl::flat_hash_set<uint64_t> labelled_tasks_;  // alive tasks whose set holds the labels
  absl::flat_hash_set<uint64_t> labelled_threads_;
  absl::flat_hash_map<uint64_t, uint64_t> running_;  // thread -> the task it runs
  bool started_ = false;
  int64_t first_ns_ = 0;
  bool past_end_ = false;
};

}  // namespace tracer::analysis

#endif  // TRACER_TOOLS_ANALYSIS_EVENT_FILTER_H_
