#include "tracer/hooks.h"

#include "tracer/internal/runtime.h"

namespace tracer::hooks {

using format::EventType;
using tracer_internal::t_state;

uint64_t NewTaskId() { return tracer_internal::NewId(); }

void TaskCreate(TaskRef& task, const Name& name) {
  if (task.id == 0) task.id = tracer_internal::NewId();
  task.labels = t_state.current_task != 0 ? t_state.labels : t_state.thread_labels;
  if (!tracer_internal::Enabled()) return;
  tracer_internal::EmitEnabledArgs(EventType::kTaskCreate, task.id, t_state.current_task,
                                   name.id(), task.labels, tracer_internal::StackForSlowEvent());
}

void SetLabels(TaskRef& task,
               std::initializer_list<std::pair<absl::string_view, absl::string_view>> labels) {
  const uint32_t id = tracer_internal::InternLabelSet(
      absl::Span<const std::pair<absl::string_view, absl::string_view>>(labels.begin(),
                                                                       labels.size()));
  if (id == tracer_internal::kLabelSetDropped) {  // past the cap: the task keeps its labels
    tracer_internal::CountLabelSetDropped();
    return;
  }
  if (task.id == 0) {
    t_state.thread_labels = id;
  } else {
    task.labels = id;
    if (t_state.current_task == task.id) t_state.labels = id;
  }
  tracer_internal::Emit(EventType::kLabels, task.id, id);
}

}  // namespace tracer::hooks
