#include "format/internal/generation_parser.h"

#include <algorithm>
#include <cassert>
#include <iterator>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "format/constants.h"
#include "format/internal/varint.h"

namespace tracer::format_internal {

using format::Batch;
using format::BlockReason;
using format::ClockSnapshot;
using format::Frame;
using format::LabelSet;
using format::LiveTask;
using format::LossRecord;
using format::Mapping;
using format::SectionKind;
using format::Stack;
using format::TaskState;
using format::TaskStatus;
using format::ThreadInfo;
using format::UserTaskInfo;
using format::kMaxLabelsPerSet;
using format::kMaxStackFrames;
using format::kMaxTableId;

absl::Status GenerationParser::NextSection(const char** p, const char* end, uint8_t* kind) {
  const char* section_start = *p;
  *kind = static_cast<uint8_t>(*section_start);
  uint64_t len;
  const char* q = DecodeVarint(section_start + 1, end, &len);
  if (q == nullptr) {
    return Error(section_start, IsOverlongVarint(section_start + 1, end)
                                    ? "overlong (non-canonical) section length varint"
                                    : "bad section length varint");
  }
  if (len > static_cast<uint64_t>(end - q)) {
    return Error(section_start, absl::StrCat("section of kind ", *kind, " claims ", len,
                                             " bytes, ", end - q, " remain"));
  }
  cur_ = q;
  end_ = q + len;
  *p = end_;
  return absl::OkStatus();
}

absl::Status GenerationParser::CountAndReserve() {
  const std::string& payload = gen_->payload_;
  const char* p = payload.data();
  const char* const end = p + payload.size();
  // Per table: its name, its smallest entry on the wire, and how many bytes an entry takes in
  // memory (with its share of an id index: 16 bytes while the index is built, then up to 32
  // for kDenseFactor array slots or 12 sparse).
  struct Kind {
    SectionKind kind;
    const char* name;
    uint64_t min_entry_bytes;
    uint64_t entry_bytes;
  };
  constexpr uint64_t kIndexBytes = 16 + IdIndex::kDenseFactor * sizeof(int32_t);
  static constexpr Kind kKinds[] = {
      {SectionKind::kStrings, "string", 2,
       sizeof(std::pair<uint64_t, absl::string_view>) + kIndexBytes},
      {SectionKind::kStacks, "stack", 2, sizeof(Stack) + kIndexBytes},
      {SectionKind::kThreads, "thread", 2, sizeof(ThreadInfo)},
      {SectionKind::kTasks, "task", 8, sizeof(TaskState)},
      {SectionKind::kUserTasks, "user task", 3, sizeof(UserTaskInfo)},
      {SectionKind::kLabelSets, "label set", 2, sizeof(LabelSet) + kIndexBytes},
      {SectionKind::kLosses, "loss", 4, sizeof(LossRecord)},
      {SectionKind::kMappings, "mapping", 5, sizeof(Mapping)},
      // and 8 bytes of the duplicate check
      {SectionKind::kLiveTasks, "live task", 10, sizeof(LiveTask) + 8},
  };
  uint64_t counts[std::size(kKinds)] = {};
  uint64_t batches = 0;
  while (p < end) {
    uint8_t kind;
    if (absl::Status s = NextSection(&p, end, &kind); !s.ok()) return s;
    if (static_cast<SectionKind>(kind) == SectionKind::kBatch ||
        static_cast<SectionKind>(kind) == SectionKind::kCrashBatch) {
      ++batches;
      continue;
    }
    for (size_t k = 0; k < std::size(kKinds); ++k) {
      if (static_cast<SectionKind>(kind) != kKinds[k].kind) continue;
      const char* const body = cur_;
      uint64_t n;
      if (!Count(&n, kKinds[k].min_entry_bytes)) return Truncated(kKinds[k].name);
      counts[k] += n;  // no overflow: n is at most the section's bytes
      // The indexed tables are read through once here without storing anything, so that a
      // repeated id (or a malformed entry) is refused before their memory is reserved.
      absl::Status s;
      cur_ = body;
      store_ = false;
      switch (kKinds[k].kind) {
        case SectionKind::kStrings: s = ParseStrings(); break;
        case SectionKind::kStacks: s = ParseStacks(); break;
        case SectionKind::kLabelSets: s = ParseLabelSets(); break;
        default: break;
      }
      store_ = true;
      if (!s.ok()) return s;
    }
  }
  for (IdTable* t : {&strings_, &stacks_, &label_sets_}) {
    std::fill(t->seen.begin(), t->seen.end(), 0);  // pass 2 checks again, from empty
  }
  // Every entry takes at least min_entry_bytes of the payload and a batch section at least 7
  // (kind, length and five header varints), so the sum stays within the bound unless a
  // struct outgrows its ratio: checked here, before anything is allocated.
  uint64_t planned = batches * sizeof(Batch);
  for (size_t k = 0; k < std::size(kKinds); ++k) planned += counts[k] * kKinds[k].entry_bytes;
  const uint64_t bound = kTableBytesPerPayloadByte * payload.size() + kTableBytesFixed;
  if (planned > bound) {
    return Error(end, absl::StrCat("the tables would take ", planned,
                                   " bytes in memory, more than the bound of ", bound,
                                   " for a payload of ", payload.size(), " bytes"));
  }
  planned_table_bytes_ = planned;
  table_bytes_bound_ = bound;
  gen_->strings_.reserve(counts[0]);
  gen_->stacks.reserve(counts[1]);
  gen_->threads.reserve(counts[2]);
  gen_->tasks.reserve(counts[3]);
  gen_->user_tasks.reserve(counts[4]);
  gen_->label_sets.reserve(counts[5]);
  gen_->losses.reserve(counts[6]);
  gen_->mappings.reserve(counts[7]);
  gen_->live_tasks.reserve(counts[8]);
  gen_->batches.reserve(batches);
  return absl::OkStatus();
}

absl::Status GenerationParser::Plan(uint64_t bytes) {
  if (bytes > table_bytes_bound_ - planned_table_bytes_) {
    return Error(cur_, absl::StrCat("the tables would take more than the bound of ",
                                    table_bytes_bound_, " bytes in memory"));
  }
  planned_table_bytes_ += bytes;
  return absl::OkStatus();
}

template <typename IdOf>
void GenerationParser::BuildIndex(IdIndex* index, size_t n, IdOf id_of) {
  std::vector<IdIndex::Entry> entries;
  entries.reserve(n);
  for (size_t i = 0; i < n; ++i) entries.push_back({id_of(i), static_cast<int32_t>(i)});
  int32_t dup;
  const bool unique = index->Build(std::move(entries), &dup);
  assert(unique);  // Index() refused repeats as they were read
  (void)unique;
}

absl::Status GenerationParser::Parse() {
  if (absl::Status s = CountAndReserve(); !s.ok()) return s;
  const std::string& payload = gen_->payload_;
  const char* p = payload.data();
  const char* end = p + payload.size();
  bool have_clock = false;
  while (p < end) {
    const char* section_start = p;
    uint8_t kind;
    if (absl::Status s = NextSection(&p, end, &kind); !s.ok()) return s;
    absl::Status s;
    switch (static_cast<SectionKind>(kind)) {
      case SectionKind::kClock:
        if (have_clock) return Error(section_start, "second clock section");
        have_clock = true;
        s = ParseClock();
        break;
      case SectionKind::kStrings: s = ParseStrings(); break;
      case SectionKind::kStacks: s = ParseStacks(); break;
      case SectionKind::kThreads: s = ParseThreads(); break;
      case SectionKind::kTasks: s = ParseTasks(); break;
      case SectionKind::kUserTasks: s = ParseUserTasks(); break;
      case SectionKind::kLabelSets: s = ParseLabelSets(); break;
      case SectionKind::kLosses: s = ParseLosses(); break;
      case SectionKind::kMappings: s = ParseMappings(); break;
      case SectionKind::kLiveTasks:
        if (gen_->listing) return Error(section_start, "second live-task section");
        s = ParseLiveTasks();
        break;
      case SectionKind::kBatch:
        ++batch_sections_;
        s = ParseBatch();
        break;
      case SectionKind::kCrashBatch:
        if (!gen_->crash) {
          return Error(section_start,
                       "crash-batch section in a generation without the crash flag");
        }
        ++batch_sections_;
        s = ParseCrashBatch(section_start);
        break;
      default:
        // Unknown kinds are additions of a later minor version: skip them.
        cur_ = end_;
        break;
    }
    if (!s.ok()) return s;
    if (cur_ != end_) return Error(cur_, "trailing bytes in section");
  }
  if (!have_clock) return Error(end, "no clock section");
  for (IdTable* t : {&strings_, &stacks_, &label_sets_}) std::vector<uint64_t>().swap(t->seen);
  Generation& g = *gen_;
  BuildIndex(&g.string_index_, g.strings_.size(), [&](size_t i) { return g.strings_[i].first; });
  BuildIndex(&g.stack_index_, g.stacks.size(), [&](size_t i) { return g.stacks[i].id; });
  BuildIndex(&g.label_index_, g.label_sets.size(), [&](size_t i) { return g.label_sets[i].id; });
  if (batch_sections_ != untrusted_num_batches_) {
    return Error(end, absl::StrCat("the header's num_batches is ", untrusted_num_batches_,
                                   " but the payload holds ", batch_sections_,
                                   " batch sections"));
  }
  if (gen_->crash) CheckCrashBatches();
  return CheckReferences();
}

absl::Status GenerationParser::Error(const char* at, absl::string_view what) {
  return absl::DataLossError(absl::StrFormat(
      "generation %d at file offset %d: payload offset %d%s: %s", gen_->seq, gen_->file_offset,
      at - gen_->payload_.data(),
      gen_->compressed ? " (in the lz4-decompressed payload)"
                       : absl::StrFormat(" (file offset %d)",
                                         payload_file_offset_ + (at - gen_->payload_.data())),
      what));
}

bool GenerationParser::U(uint64_t* v) {
  const char* q = DecodeVarint(cur_, end_, v);
  if (q == nullptr) return false;
  cur_ = q;
  return true;
}

bool GenerationParser::Byte(uint8_t* v) {
  if (cur_ >= end_) return false;
  *v = static_cast<uint8_t>(*cur_++);
  return true;
}

bool GenerationParser::Count(uint64_t* n, uint64_t min_entry_bytes) {
  return U(n) && *n <= static_cast<uint64_t>(end_ - cur_) / min_entry_bytes;
}

bool GenerationParser::AtOverlongVarint() const { return IsOverlongVarint(cur_, end_); }

absl::Status GenerationParser::Truncated(absl::string_view table) {
  if (AtOverlongVarint()) {
    return Error(cur_, absl::StrCat("overlong (non-canonical) varint in ", table,
                                    " table entry"));
  }
  return Error(cur_, absl::StrCat(table, " table entry is truncated or malformed"));
}

absl::Status GenerationParser::Index(IdTable* t, uint64_t id) {
  if (id == 0 || id > kMaxTableId) {
    return Error(cur_,
                 absl::StrCat(t->name, " id ", id, " out of range [1, ", kMaxTableId, "]"));
  }
  const size_t word = static_cast<size_t>(id >> 6);
  const uint64_t bit = uint64_t{1} << (id & 63);
  if (word >= t->seen.size()) {
    // Grown geometrically, never past the id range: at most (kMaxTableId + 1) / 8 bytes.
    const size_t cap = static_cast<size_t>(kMaxTableId >> 6) + 1;
    t->seen.resize(std::min(cap, std::max(word + 1, 2 * t->seen.size())), 0);
  }
  if ((t->seen[word] & bit) != 0) {
    return Error(cur_, absl::StrCat("duplicate ", t->name, " id ", id));
  }
  t->seen[word] |= bit;
  return absl::OkStatus();
}

absl::Status GenerationParser::ParseClock() {
  ClockSnapshot& c = gen_->clock;
  uint64_t mono, real;
  if (!U(&c.ticks_per_second) || !U(&c.tick) || !U(&mono) || !U(&real)) {
    return Error(cur_, AtOverlongVarint() ? "overlong (non-canonical) varint in clock section"
                                          : "clock section is truncated");
  }
  if (c.ticks_per_second == 0) return Error(cur_, "clock frequency is zero");
  c.mono_ns = static_cast<int64_t>(mono);
  c.real_ns = static_cast<int64_t>(real);
  return absl::OkStatus();
}

absl::Status GenerationParser::ParseStrings() {
  uint64_t n;
  if (!Count(&n, 2)) return Truncated("string");
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t id, len;
    if (!U(&id) || !U(&len) || len > static_cast<uint64_t>(end_ - cur_)) {
      return Truncated("string");
    }
    if (auto s = Index(&strings_, id); !s.ok()) return s;
    if (store_) gen_->strings_.emplace_back(id, absl::string_view(cur_, len));
    cur_ += len;
  }
  return absl::OkStatus();
}

absl::Status GenerationParser::ParseStacks() {
  uint64_t n;
  if (!Count(&n, 2)) return Truncated("stack");
  for (uint64_t i = 0; i < n; ++i) {
    Stack st;
    uint64_t nframes;
    if (!U(&st.id) || !U(&nframes)) return Truncated("stack");
    if (nframes > kMaxStackFrames) {
      return Error(cur_, absl::StrCat("stack ", st.id, " has ", nframes, " frames (max ",
                                      kMaxStackFrames, ")"));
    }
    if (auto s = Index(&stacks_, st.id); !s.ok()) return s;
    // A frame is at least four bytes: the count must fit the section before it is allocated.
    if (nframes > static_cast<uint64_t>(end_ - cur_) / 4) return Truncated("stack");
    if (!store_) {
      for (uint64_t k = 0; k < nframes; ++k) {
        Frame f;
        if (!U(&f.pc) || !U(&f.func) || !U(&f.file) || !U(&f.line)) return Truncated("stack");
      }
      continue;
    }
    if (auto s = Plan(nframes * sizeof(Frame)); !s.ok()) return s;
    st.frames.resize(nframes);
    for (Frame& f : st.frames) {
      if (!U(&f.pc) || !U(&f.func) || !U(&f.file) || !U(&f.line)) return Truncated("stack");
    }
    gen_->stacks.push_back(std::move(st));
  }
  return absl::OkStatus();
}

absl::Status GenerationParser::ParseThreads() {
  uint64_t n;
  if (!Count(&n, 2)) return Truncated("thread");
  for (uint64_t i = 0; i < n; ++i) {
    ThreadInfo t;
    if (!U(&t.id) || !U(&t.name)) return Truncated("thread");
    gen_->threads.push_back(t);
  }
  return absl::OkStatus();
}

absl::Status GenerationParser::StatusAndReason(const char* what, uint64_t id, uint8_t status,
                                               uint8_t reason, TaskStatus* status_out,
                                               BlockReason* reason_out) {
  if (status == 0 || status >= static_cast<uint8_t>(TaskStatus::kNumTaskStatuses)) {
    return Error(cur_, absl::StrCat(what, " ", id, " has invalid status ", status));
  }
  if (reason >= static_cast<uint8_t>(BlockReason::kNumBlockReasons)) {
    return Error(cur_, absl::StrCat(what, " ", id, " has invalid block reason ", reason));
  }
  *status_out = static_cast<TaskStatus>(status);
  *reason_out = static_cast<BlockReason>(reason);
  return absl::OkStatus();
}

absl::Status GenerationParser::ParseTasks() {
  uint64_t n;
  if (!Count(&n, 8)) return Truncated("task");
  for (uint64_t i = 0; i < n; ++i) {
    TaskState t;
    uint8_t status, reason;
    if (!U(&t.id) || !U(&t.parent) || !U(&t.name) || !Byte(&status) || !U(&t.thread) ||
        !U(&t.labels) || !U(&t.seq) || !Byte(&reason)) {
      return Truncated("task");
    }
    if (auto s = StatusAndReason("task", t.id, status, reason, &t.status, &t.reason); !s.ok()) {
      return s;
    }
    gen_->tasks.push_back(t);
  }
  return absl::OkStatus();
}

absl::Status GenerationParser::ParseLiveTasks() {
  gen_->listing = true;
  uint64_t n;
  if (!Count(&n, 10)) return Truncated("live task");
  for (uint64_t i = 0; i < n; ++i) {
    LiveTask t;
    uint8_t status, reason;
    if (!U(&t.id) || !U(&t.parent) || !U(&t.name) || !Byte(&status) || !U(&t.thread) ||
        !U(&t.labels) || !Byte(&reason) || !U(&t.object) || !U(&t.since_tick) ||
        !U(&t.stack)) {
      return Truncated("live task");
    }
    if (t.id == 0) return Error(cur_, "live task with id 0");
    if (auto s = StatusAndReason("live task", t.id, status, reason, &t.status, &t.reason);
        !s.ok()) {
      return s;
    }
    gen_->live_tasks.push_back(t);
  }
  return absl::OkStatus();
}

absl::Status GenerationParser::ParseUserTasks() {
  uint64_t n;
  if (!Count(&n, 3)) return Truncated("user task");
  for (uint64_t i = 0; i < n; ++i) {
    UserTaskInfo t;
    if (!U(&t.id) || !U(&t.parent) || !U(&t.name)) return Truncated("user task");
    gen_->user_tasks.push_back(t);
  }
  return absl::OkStatus();
}

absl::Status GenerationParser::ParseLabelSets() {
  uint64_t n;
  if (!Count(&n, 2)) return Truncated("label set");
  for (uint64_t i = 0; i < n; ++i) {
    LabelSet ls;
    uint64_t count;
    if (!U(&ls.id) || !U(&count)) return Truncated("label set");
    if (count > kMaxLabelsPerSet) {
      return Error(cur_, absl::StrCat("label set ", ls.id, " has ", count, " labels"));
    }
    if (auto s = Index(&label_sets_, ls.id); !s.ok()) return s;
    if (count > static_cast<uint64_t>(end_ - cur_) / 2) return Truncated("label set");
    if (!store_) {
      for (uint64_t k = 0; k < 2 * count; ++k) {
        uint64_t v;
        if (!U(&v)) return Truncated("label set");
      }
      continue;
    }
    if (auto s = Plan(count * sizeof(ls.labels[0])); !s.ok()) return s;
    ls.labels.resize(count);
    for (auto& [k, v] : ls.labels) {
      if (!U(&k) || !U(&v)) return Truncated("label set");
    }
    gen_->label_sets.push_back(std::move(ls));
  }
  return absl::OkStatus();
}

absl::Status GenerationParser::ParseLosses() {
  uint64_t n;
  if (!Count(&n, 4)) return Truncated("loss");
  for (uint64_t i = 0; i < n; ++i) {
    LossRecord l;
    if (!U(&l.thread) || !U(&l.count) || !U(&l.begin_tick) || !U(&l.end_tick)) {
      return Truncated("loss");
    }
    if (l.end_tick < l.begin_tick) return Error(cur_, "loss record ends before it begins");
    gen_->losses.push_back(l);
  }
  return absl::OkStatus();
}

absl::Status GenerationParser::ParseMappings() {
  uint64_t n;
  if (!Count(&n, 5)) return Truncated("mapping");
  for (uint64_t i = 0; i < n; ++i) {
    Mapping m;
    if (!U(&m.start) || !U(&m.end) || !U(&m.offset) || !U(&m.path) || !U(&m.build_id)) {
      return Truncated("mapping");
    }
    if (m.end < m.start) return Error(cur_, "mapping ends before it starts");
    gen_->mappings.push_back(m);
  }
  return absl::OkStatus();
}

absl::Status GenerationParser::ParseBatch() {
  Batch b;
  uint64_t len;
  const bool header_read =
      U(&b.thread) && U(&b.seq) && U(&b.base_tick) && U(&b.num_events) && U(&len);
  if (!header_read || len != static_cast<uint64_t>(end_ - cur_)) {
    return Error(cur_, absl::StrCat("batch ", gen_->batches.size(),
                                    !header_read && AtOverlongVarint()
                                        ? " header has an overlong (non-canonical) varint"
                                        : " header is malformed or its length disagrees with "
                                          "its section"));
  }
  if (b.num_events > len / 2) {  // every event is at least a type byte and a delta
    return Error(cur_, absl::StrCat("batch ", gen_->batches.size(), " claims ", b.num_events,
                                    " events in ", len, " bytes"));
  }
  b.events = absl::string_view(cur_, len);
  b.payload_offset = cur_ - gen_->payload_.data();
  cur_ = end_;
  gen_->batches.push_back(b);
  return absl::OkStatus();
}

absl::Status GenerationParser::CheckReferences() {
  const char* at = gen_->payload_.data() + gen_->payload_.size();
  auto str = [&](uint64_t id, absl::string_view what) -> absl::Status {
    if (gen_->HasString(id)) return absl::OkStatus();
    return Error(at, absl::StrCat(what, " refers to undefined string ", id));
  };
  for (const Stack& st : gen_->stacks) {
    for (const Frame& f : st.frames) {
      if (auto s = str(f.func, absl::StrCat("stack ", st.id)); !s.ok()) return s;
      if (auto s = str(f.file, absl::StrCat("stack ", st.id)); !s.ok()) return s;
    }
  }
  for (const ThreadInfo& t : gen_->threads) {
    if (auto s = str(t.name, absl::StrCat("thread ", t.id)); !s.ok()) return s;
  }
  for (const TaskState& t : gen_->tasks) {
    if (auto s = str(t.name, absl::StrCat("task ", t.id)); !s.ok()) return s;
    if (t.labels != 0 && gen_->FindLabelSet(t.labels) == nullptr) {
      return Error(at, absl::StrCat("task ", t.id, " refers to undefined label set ", t.labels));
    }
  }
  for (const UserTaskInfo& t : gen_->user_tasks) {
    if (auto s = str(t.name, absl::StrCat("user task ", t.id)); !s.ok()) return s;
  }
  if (!gen_->live_tasks.empty()) {
    std::vector<uint64_t> ids;
    ids.reserve(gen_->live_tasks.size());
    for (const LiveTask& t : gen_->live_tasks) {
      if (auto s = str(t.name, absl::StrCat("live task ", t.id)); !s.ok()) return s;
      if (t.labels != 0 && gen_->FindLabelSet(t.labels) == nullptr) {
        return Error(at, absl::StrCat("live task ", t.id, " refers to undefined label set ",
                                      t.labels));
      }
      if (t.stack != 0 && gen_->FindStack(t.stack) == nullptr) {
        return Error(at, absl::StrCat("live task ", t.id, " refers to undefined stack ",
                                      t.stack));
      }
      ids.push_back(t.id);
    }
    std::sort(ids.begin(), ids.end());
    if (auto d = std::adjacent_find(ids.begin(), ids.end()); d != ids.end()) {
      return Error(at, absl::StrCat("live task ", *d, " is listed twice"));
    }
  }
  for (const LabelSet& ls : gen_->label_sets) {
    for (const auto& [k, v] : ls.labels) {
      if (auto s = str(k, absl::StrCat("label set ", ls.id)); !s.ok()) return s;
      if (auto s = str(v, absl::StrCat("label set ", ls.id)); !s.ok()) return s;
    }
  }
  for (const Mapping& m : gen_->mappings) {
    if (auto s = str(m.path, "mapping"); !s.ok()) return s;
    if (auto s = str(m.build_id, "mapping"); !s.ok()) return s;
  }
  // Batches in (thread, seq) order: the merge's tie-break and the dumpers rely on it.
  // (Writers emit them in that order: the sort, and its buffer, are for other files.)
  auto by_thread_seq = [](const Batch& a, const Batch& b) {
    return a.thread != b.thread ? a.thread < b.thread : a.seq < b.seq;
  };
  if (!std::is_sorted(gen_->batches.begin(), gen_->batches.end(), by_thread_seq)) {
    std::stable_sort(gen_->batches.begin(), gen_->batches.end(), by_thread_seq);
  }
  return absl::OkStatus();
}
}  // namespace tracer::format_internal
