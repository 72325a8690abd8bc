#include "tracer/hooks.h"

#include <vector>

#include "tracer/internal/runtime.h"

namespace tracer::hooks {

using format::EventType;
using tracer_internal::Emit;
using tracer_internal::Enabled;
using tracer_internal::StackIfEnabled;
using tracer_internal::t_state;

namespace {
uint64_t Addr(const void* p) { return reinterpret_cast<uintptr_t>(p); }
}  // namespace

uint64_t NewTaskId() { return tracer_internal::NewId(); }

void TaskCreate(TaskRef& task, const Name& name) {
  if (task.id == 0) task.id = tracer_internal::NewId();
  task.labels = t_state.current_task != 0 ? t_state.labels : t_state.thread_labels;
  if (!Enabled()) return;
  Emit(EventType::kTaskCreate, task.id, t_state.current_task, name.id(), task.labels,
       StackIfEnabled(false));
}

void TaskStart(TaskRef& task) {
  ++task.seq;
  t_state.current_task = task.id;
  t_state.labels = task.labels;
  Emit(EventType::kTaskStart, task.id, task.seq);
}

void TaskBlock(TaskRef& task, BlockReason reason, const void* object) {
  if (t_state.current_task == task.id) t_state.current_task = 0;
  if (!Enabled()) return;
  Emit(EventType::kTaskBlock, task.id, static_cast<uint64_t>(reason), Addr(object),
       StackIfEnabled(false));
}

void TaskUnblock(TaskRef& task, const void* object) {
  ++task.seq;
  if (!Enabled()) return;
  Emit(EventType::kTaskUnblock, task.id, task.seq, t_state.current_task, Addr(object),
       StackIfEnabled(false));
}

void TaskYield(TaskRef& task) {
  if (t_state.current_task == task.id) t_state.current_task = 0;
  Emit(EventType::kTaskYield, task.id);
}

void TaskEnd(TaskRef& task) {
  if (t_state.current_task == task.id) t_state.current_task = 0;
  Emit(EventType::kTaskEnd, task.id);
}

void SyscallBegin(const Name& name) {
  if (!Enabled()) return;
  Emit(EventType::kSyscallBegin, name.id(), StackIfEnabled(false));
}
void SyscallEnd() { Emit(EventType::kSyscallEnd); }

void PhaseBegin(const Name& name, bool stop_the_world, bool thread_scoped) {
  Emit(EventType::kPhaseBegin, name.id(),
       (stop_the_world ? format::kPhaseStopTheWorld : 0) |
           (thread_scoped ? format::kPhaseThreadScoped : 0));
}
void PhaseEnd(const Name& name) { Emit(EventType::kPhaseEnd, name.id()); }

void SetLabels(TaskRef& task,
               std::initializer_list<std::pair<absl::string_view, absl::string_view>> labels) {
  const uint32_t id = tracer_internal::InternLabelSet(
      absl::Span<const std::pair<absl::string_view, absl::string_view>>(labels.begin(),
                                                                       labels.size()));
  if (task.id == 0) {
    t_state.thread_labels = id;
  } else {
    task.labels = id;
    if (t_state.current_task == task.id) t_state.labels = id;
  }
  Emit(EventType::kLabels, task.id, id);
}

void Counter(const Name& name, int64_t value) {
  Emit(EventType::kCounter, name.id(), format_internal::ZigZag(value));
}

}  // namespace tracer::hooks
