#include "tools/analysis/event_filter.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"

namespace tracer::analysis {
namespace {

using format::Event;
using format::EventType;
using format::Generation;

// Argument positions (FORMAT.md, "Event table").
constexpr int kTask = 0;          // of every runtime-task event
constexpr int kCreateParent = 1;  // TaskCreate
constexpr int kCreateLabels = 3;  // TaskCreate
constexpr int kLabelsLabels = 1;  // Labels

bool IsTaskEvent(EventType type) {
  return format::TaskArgSpace(type) == format::TaskSpace::kRuntime;
}

std::string TypeNames() {
  std::vector<absl::string_view> names;
  for (int t = 1; t < static_cast<int>(EventType::kNumEventTypes); ++t) {
    if (const format::EventSpec* spec = format::FindEventSpec(static_cast<uint8_t>(t))) {
      names.push_back(spec->name);
    }
  }
  return absl::StrJoin(names, ", ");
}

}  // namespace

std::string EventFilterOptions::Description() const {
  std::vector<std::string> parts;
  for (const std::string& t : threads) parts.push_back(absl::StrCat("--thread ", t));
  if (!tasks.empty()) parts.push_back(absl::StrCat("--task ", absl::StrJoin(tasks, ",")));
  if (!types.empty()) {
    std::vector<absl::string_view> names;
    for (EventType t : types) names.push_back(format::GetEventSpec(t).name);
    parts.push_back(absl::StrCat("--type ", absl::StrJoin(names, ",")));
  }
  if (from_ns != 0) {
    parts.push_back(absl::StrCat("--from ", absl::FormatDuration(absl::Nanoseconds(from_ns))));
  }
  if (to_ns != kFilterNoEnd) {
    parts.push_back(absl::StrCat("--to ", absl::FormatDuration(absl::Nanoseconds(to_ns))));
  }
  for (const auto& [key, value] : labels) {
    parts.push_back(absl::StrCat("--label ", key, "=", value));
  }
  return absl::StrJoin(parts, " ");
}

absl::StatusOr<std::vector<EventType>> ParseEventTypes(const std::vector<std::string>& values) {
  std::vector<EventType> out;
  for (const std::string& value : values) {
    for (absl::string_view name : absl::StrSplit(value, ',')) {
      name = absl::StripAsciiWhitespace(name);
      bool found = false;
      for (int t = 1; t < static_cast<int>(EventType::kNumEventTypes) && !name.empty(); ++t) {
        const format::EventSpec* spec = format::FindEventSpec(static_cast<uint8_t>(t));
        if (spec != nullptr && absl::EqualsIgnoreCase(name, spec->name)) {
          out.push_back(spec->type);
          found = true;
          break;
        }
      }
      if (!found) {
        const std::string what = name.empty() ? std::string("empty event type name")
                                              : absl::StrCat("unknown event type '", name, "'");
        return absl::InvalidArgumentError(absl::StrCat(what, " (one of: ", TypeNames(), ")"));
      }
    }
  }
  return out;
}

absl::StatusOr<std::pair<std::string, std::string>> ParseLabel(absl::string_view value) {
  const size_t eq = value.find('=');
  if (eq == absl::string_view::npos || eq == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("takes key=value (a label's key and value), not '", value, "'"));
  }
  return std::make_pair(std::string(value.substr(0, eq)), std::string(value.substr(eq + 1)));
}

EventFilter::EventFilter(EventFilterOptions options) : options_(std::move(options)) {
  for (EventType t : options_.types) types_.set(static_cast<size_t>(t));
  for (const std::string& t : options_.threads) {
    uint64_t id;
    if (absl::SimpleAtoi(t, &id)) thread_ids_.insert(id);
    thread_names_.insert(t);
  }
  kept_.insert(options_.tasks.begin(), options_.tasks.end());
}

bool EventFilter::HoldsLabels(const Generation& gen, uint64_t id) const {
  const format::LabelSet* set = id == 0 ? nullptr : gen.FindLabelSet(id);
  for (const auto& [key, value] : options_.labels) {
    bool held = false;
    if (set != nullptr) {
      for (const auto& [k, v] : set->labels) {
        if (gen.String(k) == key && gen.String(v) == value) {
          held = true;
          break;
        }
      }
    }
    if (!held) return false;
  }
  return true;
}

void EventFilter::BeginGeneration(const Generation& gen) {
  if (!thread_names_.empty()) {
    for (const format::ThreadInfo& t : gen.threads) {
      if (thread_names_.contains(gen.String(t.name))) thread_ids_.insert(t.id);
    }
  }
  absl::flat_hash_map<uint64_t, uint64_t> parent;  // the table's tasks -> their parents
  for (const format::TaskState& t : gen.tasks) {
    if ((t.status == format::TaskStatus::kRunning || t.status == format::TaskStatus::kSyscall) &&
        t.thread != 0) {
      running_[t.thread] = t.id;
    }
    if (!options_.labels.empty()) SetLabels(&labelled_tasks_, t.id, HoldsLabels(gen, t.labels));
    if (!options_.tasks.empty()) parent[t.id] = t.parent;
  }
  // A table's task is kept if a chain of table parents leads to a kept task. Each walk takes
  // at most as many steps as the table has entries (a cycle in damaged data stops there).
  for (const format::TaskState& t : gen.tasks) {
    if (options_.tasks.empty() || kept_.contains(t.id)) continue;
    uint64_t p = t.parent;
    for (size_t steps = 0; p != 0 && steps <= gen.tasks.size(); ++steps) {
      if (kept_.contains(p)) {
        kept_.insert(t.id);
        break;
      }
      auto it = parent.find(p);
      if (it == parent.end()) break;
      p = it->second;
    }
  }
}

uint64_t EventFilter::SubjectOf(const Event& e) const {
  if (IsTaskEvent(e.type)) return e.args[kTask];
  auto it = running_.find(e.thread);
  return it == running_.end() ? 0 : it->second;
}

void EventFilter::ApplyBefore(const Generation& gen, const Event& e) {
  switch (e.type) {
    case EventType::kTaskCreate:
      if (kept_.contains(e.args[kCreateParent])) kept_.insert(e.args[kTask]);
      if (!options_.labels.empty()) {
        SetLabels(&labelled_tasks_, e.args[kTask], HoldsLabels(gen, e.args[kCreateLabels]));
      }
      break;
    case EventType::kTaskStart:
      running_[e.thread] = e.args[kTask];
      break;
    case EventType::kLabels:
      if (options_.labels.empty()) break;
      if (e.args[kTask] != 0) {
        SetLabels(&labelled_tasks_, e.args[kTask], HoldsLabels(gen, e.args[kLabelsLabels]));
      } else {
        SetLabels(&labelled_threads_, e.thread, HoldsLabels(gen, e.args[kLabelsLabels]));
      }
      break;
    default:
      break;
  }
}

void EventFilter::ApplyAfter(const Event& e) {
  switch (e.type) {
    case EventType::kTaskEnd:
      kept_.erase(e.args[kTask]);
      labelled_tasks_.erase(e.args[kTask]);
      [[fallthrough]];
    case EventType::kTaskBlock:
    case EventType::kTaskYield:
      if (auto it = running_.find(e.thread); it != running_.end() && it->second == e.args[kTask]) {
        running_.erase(it);
      }
      break;
    default:
      break;
  }
}

bool EventFilter::Match(const Generation& gen, const Event& e) {
  const int64_t now = gen.TickToMonoNs(e.tick);
  if (!started_) {
    started_ = true;
    first_ns_ = now;
  }
  const int64_t since = now - first_ns_;
  if (options_.to_ns != kFilterNoEnd && since > options_.to_ns) past_end_ = true;
  ApplyBefore(gen, e);
  bool match =
      since >= options_.from_ns && (options_.to_ns == kFilterNoEnd || since <= options_.to_ns);
  if (match && !options_.types.empty()) match = types_.test(static_cast<size_t>(e.type));
  if (match && !options_.threads.empty()) match = thread_ids_.contains(e.thread);
  if (match && (!options_.tasks.empty() || !options_.labels.empty())) {
    const uint64_t subject = SubjectOf(e);
    if (!options_.tasks.empty()) match = subject != 0 && kept_.contains(subject);
    if (match && !options_.labels.empty()) {
      match = subject != 0 ? labelled_tasks_.contains(subject)
                           : labelled_threads_.contains(e.thread);
    }
  }
  ApplyAfter(e);
  return match;
}

}  // namespace tracer::analysis
