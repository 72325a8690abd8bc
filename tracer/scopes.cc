#include "tracer/scopes.h"

#include <string>
#include <vector>

#include "tracer/hooks.h"
#include "tracer/internal/runtime.h"
#include "tracer/internal/self_task.h"

namespace tracer {

using tracer_internal::t_state;

namespace {

// The running task's label set: its TaskRef's, or the thread's own.
uint32_t CurrentLabelSet() {
  const TaskRef* r = t_state.current_ref;
  return r != nullptr ? r->labels : t_state.thread_labels;
}

// Makes `id` the running task's label set, in the task (so TaskStart after a wait reloads it)
// and in the thread's state (so tasks created here inherit it).
void SetCurrentLabelSet(uint32_t id) {
  TaskRef* r = tracer_internal::RunningTask();  // announces the thread's own task if need be
  if (r == nullptr) r = t_state.current_ref;     // tracing is off: the task keeps them anyway
  if (r == nullptr || r->id == tracer_internal::ThreadTaskId()) t_state.thread_labels = id;
  if (r != nullptr) r->labels = id;
  t_state.labels = id;
  tracer_internal::Emit(format::EventType::kLabels, r != nullptr ? r->id : 0, id);
}

}  // namespace

ScopedLabels::ScopedLabels(std::initializer_list<Label> labels) : previous_(CurrentLabelSet()) {
  if (labels.size() == 0) return;
  // Merge over the labels the task has: the new pairs last, so a repeated key takes them.
  std::vector<std::pair<std::string, std::string>> have =
      tracer_internal::DecodeLabelSet(previous_);
  std::vector<std::pair<absl::string_view, absl::string_view>> merged;
  merged.reserve(have.size() + labels.size());
  for (const auto& [k, v] : have) merged.emplace_back(k, v);
  for (const auto& l : labels) merged.push_back(l);
  const uint32_t id = tracer_internal::InternLabelSet(merged);
  if (id == tracer_internal::kLabelSetDropped) {
    tracer_internal::CountLabelSetDropped();
    return;
  }
  if (id == previous_) return;
  SetCurrentLabelSet(id);
  applied_ = true;
}

ScopedLabels::~ScopedLabels() {
  if (applied_) SetCurrentLabelSet(previous_);
}

std::vector<std::pair<std::string, std::string>> CurrentLabels() {
  return tracer_internal::DecodeLabelSet(CurrentLabelSet());
}

}  // namespace tracer
