#include "format/trace_reader.h"

#include <fcntl.h>
#include <lz4.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <functional>
#include <utility>

#include "absl/base/optimization.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "format/constants.h"
#include "format/internal/varint.h"

namespace tracer::format {

using format_internal::DecodeVarint;
using format_internal::LoadLE16;
using format_internal::LoadLE32;
using format_internal::LoadLE64;
using format_internal::UnZigZag;

namespace {

class StringSource final : public ByteSource {
 public:
  explicit StringSource(std::string data) : data_(std::move(data)) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    n = std::min(n, data_.size() - pos_);
    std::memcpy(buf, data_.data() + pos_, n);
    pos_ += n;
    return n;
  }

 private:
  std::string data_;
  size_t pos_ = 0;
};

class FdSource final : public ByteSource {
 public:
  FdSource(int fd, bool owned) : fd_(fd), owned_(owned) {}
  ~FdSource() override {
    if (owned_) close(fd_);
  }
  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    for (;;) {
      ssize_t r = read(fd_, buf, n);
      if (r >= 0) return static_cast<size_t>(r);
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "read");
    }
  }

 private:
  int fd_;
  bool owned_;
};

uint32_t Crc32(const char* p, size_t n) {
  return static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(p), n));
}

}  // namespace

std::unique_ptr<ByteSource> MakeStringSource(std::string data) {
  return std::make_unique<StringSource>(std::move(data));
}
std::unique_ptr<ByteSource> MakeFdSource(int fd, bool owned) {
  return std::make_unique<FdSource>(fd, owned);
}

int64_t Generation::TickDeltaNs(uint64_t tick) const {
  if (clock.ticks_per_second == 0) return 0;  // rejected by the parser; defensive
  const bool neg = tick < clock.tick;
  const uint64_t d = neg ? clock.tick - tick : tick - clock.tick;
  const unsigned __int128 ns =
      static_cast<unsigned __int128>(d) * 1000000000u / clock.ticks_per_second;
  const int64_t v = ns > static_cast<unsigned __int128>(INT64_MAX) ? INT64_MAX
                                                                    : static_cast<int64_t>(ns);
  return neg ? -v : v;
}

const LabelSet* Generation::FindLabelSet(uint64_t id) const {
  const int32_t i = label_index_.Find(id);
  return i >= 0 ? &label_sets[i] : nullptr;
}

absl::string_view Generation::ThreadName(uint64_t thread) const {
  for (const ThreadInfo& t : threads) {
    if (t.id == thread) return String(t.name);
  }
  return {};
}

// Parses a decompressed payload into a Generation. Every read is bounds-checked.
// `untrusted_num_batches` is the header's count, checked against the batch sections found.
class GenerationParser {
 public:
  GenerationParser(Generation* gen, uint64_t payload_file_offset, uint32_t untrusted_num_batches)
      : gen_(gen),
        payload_file_offset_(payload_file_offset),
        untrusted_num_batches_(untrusted_num_batches) {}

  absl::Status Parse() {
    const std::string& payload = gen_->payload_;
    const char* p = payload.data();
    const char* end = p + payload.size();
    bool have_clock = false;
    while (p < end) {
      const char* section_start = p;
      uint8_t kind = static_cast<uint8_t>(*p++);
      uint64_t len;
      p = DecodeVarint(p, end, &len);
      if (p == nullptr) {
        return Error(section_start, format_internal::IsOverlongVarint(section_start + 1, end)
                                        ? "overlong (non-canonical) section length varint"
                                        : "bad section length varint");
      }
      if (len > static_cast<uint64_t>(end - p)) {
        return Error(section_start, absl::StrCat("section of kind ", kind, " claims ", len,
                                                 " bytes, ", end - p, " remain"));
      }
      cur_ = p;
      end_ = p + len;
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
        case SectionKind::kBatch: s = ParseBatch(); break;
        default:
          // Unknown kinds are additions of a later minor version: skip them.
          cur_ = end_;
          break;
      }
      if (!s.ok()) return s;
      if (cur_ != end_) return Error(cur_, "trailing bytes in section");
      p = end_;
    }
    if (!have_clock) return Error(end, "no clock section");
    for (IdTable* t : {&strings_, &stacks_, &label_sets_}) {
      int32_t dup;
      if (!t->index->Build(std::move(t->entries), &dup)) {
        return Error(t->at[dup], absl::StrCat("duplicate ", t->name, " id ",
                                              t->id_of(*gen_, dup)));
      }
    }
    if (gen_->batches.size() != untrusted_num_batches_) {
      return Error(end, absl::StrCat("the header's num_batches is ", untrusted_num_batches_,
                                     " but the payload holds ", gen_->batches.size(),
                                     " batch sections"));
    }
    return CheckReferences();
  }

 private:
  absl::Status Error(const char* at, absl::string_view what) {
    return absl::DataLossError(absl::StrFormat(
        "generation %d at file offset %d: payload offset %d%s: %s", gen_->seq, gen_->file_offset,
        at - gen_->payload_.data(),
        gen_->compressed ? " (in the lz4-decompressed payload)"
                         : absl::StrFormat(" (file offset %d)",
                                           payload_file_offset_ + (at - gen_->payload_.data())),
        what));
  }

  bool U(uint64_t* v) {
    const char* q = DecodeVarint(cur_, end_, v);
    if (q == nullptr) return false;
    cur_ = q;
    return true;
  }
  bool Byte(uint8_t* v) {
    if (cur_ >= end_) return false;
    *v = static_cast<uint8_t>(*cur_++);
    return true;
  }
  bool Count(uint64_t* n, uint64_t min_entry_bytes) {
    return U(n) && *n <= static_cast<uint64_t>(end_ - cur_) / min_entry_bytes;
  }
  // U() leaves cur_ at the varint it refused, so the message can say why.
  bool AtOverlongVarint() const { return format_internal::IsOverlongVarint(cur_, end_); }
  absl::Status Truncated(absl::string_view table) {
    if (AtOverlongVarint()) {
      return Error(cur_, absl::StrCat("overlong (non-canonical) varint in ", table,
                                      " table entry"));
    }
    return Error(cur_, absl::StrCat(table, " table entry is truncated or malformed"));
  }
  // The ids of one table as parsed, for its IdIndex once the payload is read (duplicates are
  // found then, and reported where the repeat was).
  struct IdTable {
    const char* name;
    format_internal::IdIndex* index;
    uint64_t (*id_of)(const Generation&, int32_t pos);
    std::vector<format_internal::IdIndex::Entry> entries = {};
    std::vector<const char*> at = {};  // per position: where the parser was after the id
  };
  // Registers `id` at table position `pos`; rejects 0 and ids above kMaxTableId.
  absl::Status Index(IdTable* t, uint64_t id, size_t pos) {
    if (id == 0 || id > kMaxTableId) {
      return Error(cur_,
                   absl::StrCat(t->name, " id ", id, " out of range [1, ", kMaxTableId, "]"));
    }
    t->entries.push_back({id, static_cast<int32_t>(pos)});
    t->at.push_back(cur_);
    return absl::OkStatus();
  }

  absl::Status ParseClock() {
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

  absl::Status ParseStrings() {
    uint64_t n;
    if (!Count(&n, 2)) return Truncated("string");
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t id, len;
      if (!U(&id) || !U(&len) || len > static_cast<uint64_t>(end_ - cur_)) {
        return Truncated("string");
      }
      if (auto s = Index(&strings_, id, gen_->strings_.size()); !s.ok()) return s;
      gen_->strings_.emplace_back(id, absl::string_view(cur_, len));
      cur_ += len;
    }
    return absl::OkStatus();
  }

  absl::Status ParseStacks() {
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
      if (auto s = Index(&stacks_, st.id, gen_->stacks.size()); !s.ok()) return s;
      st.frames.resize(nframes);
      for (Frame& f : st.frames) {
        if (!U(&f.pc) || !U(&f.func) || !U(&f.file) || !U(&f.line)) return Truncated("stack");
      }
      gen_->stacks.push_back(std::move(st));
    }
    return absl::OkStatus();
  }

  absl::Status ParseThreads() {
    uint64_t n;
    if (!Count(&n, 2)) return Truncated("thread");
    for (uint64_t i = 0; i < n; ++i) {
      ThreadInfo t;
      if (!U(&t.id) || !U(&t.name)) return Truncated("thread");
      gen_->threads.push_back(t);
    }
    return absl::OkStatus();
  }

  absl::Status ParseTasks() {
    uint64_t n;
    if (!Count(&n, 8)) return Truncated("task");
    for (uint64_t i = 0; i < n; ++i) {
      TaskState t;
      uint8_t status, reason;
      if (!U(&t.id) || !U(&t.parent) || !U(&t.name) || !Byte(&status) || !U(&t.thread) ||
          !U(&t.labels) || !U(&t.seq) || !Byte(&reason)) {
        return Truncated("task");
      }
      if (status == 0 || status >= static_cast<uint8_t>(TaskStatus::kNumTaskStatuses)) {
        return Error(cur_, absl::StrCat("task ", t.id, " has invalid status ", status));
      }
      if (reason >= static_cast<uint8_t>(BlockReason::kNumBlockReasons)) {
        return Error(cur_, absl::StrCat("task ", t.id, " has invalid block reason ", reason));
      }
      t.status = static_cast<TaskStatus>(status);
      t.reason = static_cast<BlockReason>(reason);
      gen_->tasks.push_back(t);
    }
    return absl::OkStatus();
  }

  absl::Status ParseUserTasks() {
    uint64_t n;
    if (!Count(&n, 3)) return Truncated("user task");
    for (uint64_t i = 0; i < n; ++i) {
      UserTaskInfo t;
      if (!U(&t.id) || !U(&t.parent) || !U(&t.name)) return Truncated("user task");
      gen_->user_tasks.push_back(t);
    }
    return absl::OkStatus();
  }

  absl::Status ParseLabelSets() {
    uint64_t n;
    if (!Count(&n, 2)) return Truncated("label set");
    for (uint64_t i = 0; i < n; ++i) {
      LabelSet ls;
      uint64_t count;
      if (!U(&ls.id) || !U(&count)) return Truncated("label set");
      if (count > kMaxLabelsPerSet) {
        return Error(cur_, absl::StrCat("label set ", ls.id, " has ", count, " labels"));
      }
      if (auto s = Index(&label_sets_, ls.id, gen_->label_sets.size()); !s.ok()) return s;
      ls.labels.resize(count);
      for (auto& [k, v] : ls.labels) {
        if (!U(&k) || !U(&v)) return Truncated("label set");
      }
      gen_->label_sets.push_back(std::move(ls));
    }
    return absl::OkStatus();
  }

  absl::Status ParseLosses() {
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

  absl::Status ParseMappings() {
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

  absl::Status ParseBatch() {
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

  // Table entries may refer to strings and label sets defined in any section order; check
  // them once everything is read.
  absl::Status CheckReferences() {
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
    std::stable_sort(gen_->batches.begin(), gen_->batches.end(),
                     [](const Batch& a, const Batch& b) {
                       return a.thread != b.thread ? a.thread < b.thread : a.seq < b.seq;
                     });
    return absl::OkStatus();
  }

  Generation* gen_;
  uint64_t payload_file_offset_;
  uint32_t untrusted_num_batches_;
  IdTable strings_{"string", &gen_->string_index_,
                   [](const Generation& g, int32_t pos) { return g.strings_[pos].first; }};
  IdTable stacks_{"stack", &gen_->stack_index_,
                  [](const Generation& g, int32_t pos) { return g.stacks[pos].id; }};
  IdTable label_sets_{"label set", &gen_->label_index_,
                      [](const Generation& g, int32_t pos) { return g.label_sets[pos].id; }};
  const char* cur_ = nullptr;
  const char* end_ = nullptr;
};

absl::StatusOr<std::unique_ptr<TraceReader>> TraceReader::Open(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  return FromSource(MakeFdSource(fd, /*owned=*/true));
}

absl::StatusOr<std::unique_ptr<TraceReader>> TraceReader::FromSource(
    std::unique_ptr<ByteSource> src) {
  std::unique_ptr<TraceReader> r(new TraceReader(std::move(src)));
  if (absl::Status s = r->ReadHeader(); !s.ok()) return s;
  return r;
}

absl::StatusOr<size_t> TraceReader::ReadFull(char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    absl::StatusOr<size_t> r = src_->Read(buf + got, n - got);
    if (!r.ok()) {
      return absl::Status(r.status().code(),
                          absl::StrCat("at file offset ", offset_ + got, ": ",
                                       r.status().message()));
    }
    if (*r == 0) break;
    got += *r;
  }
  offset_ += got;
  return got;
}

absl::Status TraceReader::ReadHeader() {
  char h[kFileHeaderSize];
  absl::StatusOr<size_t> got = ReadFull(h, sizeof(h));
  if (!got.ok()) return got.status();
  if (*got < sizeof(kFileMagic) || std::memcmp(h, kFileMagic, sizeof(kFileMagic)) != 0) {
    return absl::InvalidArgumentError("not a tracer trace: bad magic at file offset 0");
  }
  if (*got < sizeof(h)) {
    return absl::DataLossError(absl::StrCat("truncated file header: file ends at file offset ",
                                            *got, ", the header is ", kFileHeaderSize,
                                            " bytes"));
  }
  major_ = LoadLE16(h + 8);
  minor_ = LoadLE16(h + 10);
  if (major_ > kVersionMajor || major_ == 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "trace format version %d.%d is not supported: this reader reads %d.x (a newer tracetool "
        "is needed)",
        major_, minor_, kVersionMajor));
  }
  flags_ = LoadLE32(h + 12);
  if ((flags_ & ~(kFileFlagsKnown | kFileFlagsIgnorable)) != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "trace file flags 0x%08x at file offset 12: unknown flags 0x%08x that a reader must "
        "understand (written by a newer version?)",
        flags_, flags_ & ~(kFileFlagsKnown | kFileFlagsIgnorable)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const Generation>> TraceReader::Next() {
  if (!sticky_.ok()) return sticky_;
  auto fail = [&](absl::Status s) {
    sticky_ = s;
    return s;
  };
  const uint64_t gen_offset = offset_;
  const uint64_t index = generations_read_;
  char h[kGenerationHeaderSize];
  absl::StatusOr<size_t> got = ReadFull(h, sizeof(h));
  if (!got.ok()) return fail(got.status());
  if (*got == 0) return std::shared_ptr<const Generation>();  // clean end
  auto where = [&]() {
    return absl::StrFormat("generation #%d at file offset %d", index, gen_offset);
  };
  if (*got < sizeof(h)) {
    return fail(absl::DataLossError(absl::StrFormat(
        "%s: truncated header (%d of %d bytes); the generations before it are intact", where(),
        *got, kGenerationHeaderSize)));
  }
  if (LoadLE32(h) != kGenerationMagic) {
    return fail(absl::DataLossError(absl::StrCat(where(), ": bad generation magic")));
  }
  // A later minor version may append fields: header_size (unchecked until the CRC matches,
  // but a u16, so at most 64 KiB are read on its word) covers them, and so does the CRC.
  const uint16_t untrusted_header_size = LoadLE16(h + 4);
  uint32_t header_crc = Crc32(h, 52);
  if (untrusted_header_size > kGenerationHeaderSize) {
    std::string extension(untrusted_header_size - kGenerationHeaderSize, '\0');
    got = ReadFull(extension.data(), extension.size());
    if (!got.ok()) return fail(got.status());
    if (*got < extension.size()) {
      return fail(absl::DataLossError(absl::StrFormat(
          "%s: truncated header (%d of %d bytes); the generations before it are intact",
          where(), kGenerationHeaderSize + *got, untrusted_header_size)));
    }
    header_crc = static_cast<uint32_t>(
        crc32(header_crc, reinterpret_cast<const Bytef*>(extension.data()), extension.size()));
  }
  if (LoadLE32(h + 52) != header_crc) {
    return fail(absl::DataLossError(absl::StrCat(where(), ": header checksum mismatch")));
  }
  const uint16_t header_size = untrusted_header_size;
  const uint16_t flags = LoadLE16(h + 6);
  if (header_size < kGenerationHeaderSize) {
    return fail(absl::DataLossError(
        absl::StrCat(where(), ": header size ", header_size, ", smaller than the ",
                     kGenerationHeaderSize, " bytes of a version ", kVersionMajor,
                     " generation header")));
  }
  if ((flags & ~(kGenFlagsKnown | kGenFlagsIgnorable)) != 0) {
    return fail(absl::FailedPreconditionError(
        absl::StrFormat("%s: unknown flags 0x%04x (written by a newer version?)", where(),
                        flags)));
  }
  auto gen = std::make_shared<Generation>();
  gen->seq = LoadLE64(h + 8);
  gen->file_offset = gen_offset;
  gen->header_size = header_size;
  gen->begin_ns = static_cast<int64_t>(LoadLE64(h + 16));
  gen->end_ns = static_cast<int64_t>(LoadLE64(h + 24));
  const uint32_t stored_len = LoadLE32(h + 32);
  const uint32_t raw_len = LoadLE32(h + 36);
  const uint32_t crc = LoadLE32(h + 40);
  const uint32_t num_batches = LoadLE32(h + 44);
  gen->compressed = (flags & kGenFlagLz4) != 0;
  // lz4 expands a block at most ~255-fold: a larger claim is damage, not a reason to allocate.
  if (stored_len > kMaxPayloadBytes || raw_len > kMaxPayloadBytes ||
      (!gen->compressed && stored_len != raw_len) ||
      (gen->compressed && raw_len > uint64_t{stored_len} * 255 + 64)) {
    return fail(absl::DataLossError(absl::StrFormat(
        "%s: implausible payload lengths (stored %d, raw %d)", where(), stored_len, raw_len)));
  }
  // Read in growing chunks, so a truncated file claiming a huge payload costs what it holds.
  std::string stored;
  size_t have = 0;
  while (have < stored_len) {
    const size_t want = std::min<size_t>(stored_len - have, std::max<size_t>(have, 1 << 20));
    stored.resize(have + want);
    got = ReadFull(stored.data() + have, want);
    if (!got.ok()) return fail(got.status());
    have += *got;
    if (*got < want) break;
  }
  got = have;
  if (*got < stored_len) {
    return fail(absl::DataLossError(absl::StrFormat(
        "%s (seq %d): truncated payload: %d of %d bytes before end of file; the generations "
        "before it are intact",
        where(), gen->seq, *got, stored_len)));
  }
  if (Crc32(stored.data(), stored.size()) != crc) {
    return fail(absl::DataLossError(
        absl::StrFormat("%s (seq %d): payload checksum mismatch", where(), gen->seq)));
  }
  gen->file_size = uint64_t{header_size} + stored_len;
  if (gen->compressed) {
    gen->payload_.resize(raw_len);
    int n = LZ4_decompress_safe(stored.data(), gen->payload_.data(), static_cast<int>(stored_len),
                                static_cast<int>(raw_len));
    if (n < 0 || static_cast<uint32_t>(n) != raw_len) {
      return fail(absl::DataLossError(absl::StrFormat(
          "%s (seq %d): lz4 payload does not decompress to its stated %d bytes", where(),
          gen->seq, raw_len)));
    }
  } else {
    gen->payload_ = std::move(stored);
  }
  GenerationParser parser(gen.get(), gen_offset + header_size, num_batches);
  if (absl::Status s = parser.Parse(); !s.ok()) return fail(s);
  if (validate_events_) {
    if (absl::Status s = ValidateGeneration(*gen); !s.ok()) return fail(s);
  }
  ++generations_read_;
  return std::shared_ptr<const Generation>(std::move(gen));
}

absl::Status ValidateGeneration(const Generation& gen) {
  for (size_t i = 0; i < gen.batches.size(); ++i) {
    BatchEventReader r(gen, i);
    Event e;
    while (r.Next(&e)) {
    }
    if (!r.status().ok()) return r.status();
  }
  return absl::OkStatus();
}

namespace {

// A decoder unrolled at compile time for one argument shape, for events far enough from the
// end of their batch (see kFastMargin). Returns the end of the event, or nullptr if anything
// is wrong with it (the generic path then decodes it again and reports exactly what).
using ShapeDecoder = const char* (*)(const Generation& gen, const char* q, const char* end,
                                     Event* e);

}  // namespace

// The decoder's table look-ups. kFull: as Generation's own (HasString, ...). Otherwise the
// dense array only, inline: false may also mean a sparse id, which the caller must look up in
// full (DecodeRun stops there, and BatchEventReader decodes the event with kFull).
struct GenerationIndexAccess {
  template <bool kFull>
  static bool HasString(const Generation& g, uint64_t id) {
    return id == 0 || (kFull ? g.string_index_.Find(id) : g.string_index_.FindDense(id)) >= 0;
  }
  template <bool kFull>
  static bool HasStack(const Generation& g, uint64_t id) {
    return (kFull ? g.stack_index_.Find(id) : g.stack_index_.FindDense(id)) >= 0;
  }
  // Label sets are rare in events: always the full look-up, out of line (FindLabelSet), which
  // keeps DecodeRun's register allocation as it was before sparse ids.
  template <bool kFull>
  static bool HasLabelSet(const Generation& g, uint64_t id) {
    return g.FindLabelSet(id) != nullptr;
  }
};

// What the decoder needs per type byte, flattened from the event table so the per-event path
// makes no call and chases no pointer into EventSpec.
struct DecodeTypeInfo {
  bool valid = false;
  uint8_t num_args = 0;
  bool plain = false;  // every argument is kId or kUint: nothing to check but the varint
  ArgKind kinds[kMaxEventArgs] = {};
  ShapeDecoder fast = nullptr;  // if the event table's shape for this type has one
  uint8_t shape = 0xff;         // its index in kShapes, or 0xff
};

namespace {

// The argument shapes of the event table (kUint is decoded as kId: neither is checked). A
// type whose shape is not here decodes through the generic loop, only slower: this list is
// a speed-up, not a second copy of the format.
struct Shape {
  int n;
  ArgKind kinds[kMaxEventArgs];
};
using K = ArgKind;
constexpr Shape kShapes[] = {
    {0, {}},
    {1, {K::kId}},
    {2, {K::kId, K::kId}},
    {3, {K::kId, K::kId, K::kId}},
    {1, {K::kString}},
    {2, {K::kId, K::kString}},
    {2, {K::kString, K::kStack}},
    {2, {K::kString, K::kPhaseFlags}},
    {2, {K::kString, K::kSint}},
    {2, {K::kId, K::kStack}},
    {2, {K::kId, K::kLabelSet}},
    {3, {K::kId, K::kString, K::kStack}},
    {3, {K::kId, K::kString, K::kBytes}},
    {4, {K::kId, K::kReason, K::kId, K::kStack}},
    {4, {K::kId, K::kId, K::kString, K::kStack}},
    {5, {K::kId, K::kId, K::kId, K::kId, K::kStack}},
    {5, {K::kId, K::kId, K::kString, K::kLabelSet, K::kStack}},
};
constexpr size_t kNumShapes = sizeof(kShapes) / sizeof(kShapes[0]);

// kChecked (BatchEventReader, hence event validation): overlong varints are refused and ids
// are looked up in full. Otherwise (the merge's DecodeRun, which hands anything it refuses to
// the checked path): varints are not checked for overlong encodings and ids are looked up in
// the dense array only, so that the hottest loop holds no call (a sparse id goes the checked
// way).
template <bool kChecked, size_t S, size_t I>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool DecodeShapeArg(const Generation& gen, const char*& q,
                                                        const char* end, Event* e) {
  constexpr ArgKind kind = kShapes[S].kinds[I];
  uint64_t v;
  q = format_internal::DecodeVarintPredicted</*kCanonical=*/kChecked>(q, &v);
  if (ABSL_PREDICT_FALSE(q == nullptr)) return false;
  if constexpr (kind == ArgKind::kSint) {
    v = static_cast<uint64_t>(UnZigZag(v));
  } else if constexpr (kind == ArgKind::kString) {
    if (ABSL_PREDICT_FALSE(!GenerationIndexAccess::HasString<kChecked>(gen, v))) return false;
  } else if constexpr (kind == ArgKind::kStack) {
    if (ABSL_PREDICT_FALSE(v != 0 && !GenerationIndexAccess::HasStack<kChecked>(gen, v))) {
      return false;
    }
  } else if constexpr (kind == ArgKind::kLabelSet) {
    if (ABSL_PREDICT_FALSE(v != 0 && !GenerationIndexAccess::HasLabelSet<kChecked>(gen, v))) {
      return false;
    }
  } else if constexpr (kind == ArgKind::kReason) {
    if (ABSL_PREDICT_FALSE(v >= static_cast<uint64_t>(BlockReason::kNumBlockReasons))) {
      return false;
    }
  } else if constexpr (kind == ArgKind::kPhaseFlags) {
    if (ABSL_PREDICT_FALSE((v & ~static_cast<uint64_t>(kPhaseKnownFlags)) != 0)) return false;
  } else if constexpr (kind == ArgKind::kBytes) {
    if (ABSL_PREDICT_FALSE(v > static_cast<uint64_t>(end - q))) return false;
    e->bytes = absl::string_view(q, v);
    q += v;
  }
  e->args[I] = v;
  return true;
}

template <bool kChecked, size_t S, size_t... I>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline const char* DecodeShapeImpl([[maybe_unused]] const Generation& gen, const char* q,
                            [[maybe_unused]] const char* end, Event* e,
                            std::index_sequence<I...>) {
  e->bytes = {};
  if (!(DecodeShapeArg<kChecked, S, I>(gen, q, end, e) && ...)) return nullptr;
  return q;
}

template <size_t S>
const char* DecodeShape(const Generation& gen, const char* q, const char* end, Event* e) {
  return DecodeShapeImpl<true, S>(gen, q, end, e, std::make_index_sequence<kShapes[S].n>());
}

template <size_t... S>
constexpr std::array<ShapeDecoder, kNumShapes> ShapeDecoders(std::index_sequence<S...>) {
  return {&DecodeShape<S>...};
}

size_t FindShape(const EventSpec& spec) {
  for (size_t s = 0; s < kNumShapes; ++s) {
    if (kShapes[s].n != spec.num_args) continue;
    bool match = true;
    for (int a = 0; a < spec.num_args; ++a) {
      const ArgKind k = spec.args[a].kind == ArgKind::kUint ? ArgKind::kId : spec.args[a].kind;
      match = match && k == kShapes[s].kinds[a];
    }
    if (match) return s;
  }
  return kNumShapes;
}

ShapeDecoder FindShapeDecoder(const EventSpec& spec) {
  static constexpr std::array<ShapeDecoder, kNumShapes> kDecoders =
      ShapeDecoders(std::make_index_sequence<kNumShapes>());
  const size_t s = FindShape(spec);
  return s < kNumShapes ? kDecoders[s] : nullptr;
}

// The shape decoders behind one switch, inlined into the block decoder's loop: no call, and
// the loop's state stays in registers.
static_assert(kNumShapes == 17, "add the new shapes' cases below");
template <bool kChecked>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline const char* DecodeShapeById(uint8_t shape,
                                                                const Generation& gen,
                                                                const char* q, const char* end,
                                                                Event* e) {
  switch (shape) {
#define TRACER_SHAPE_CASE(S)                                                             \
  case S:                                                                                \
    return DecodeShapeImpl<kChecked, S>(gen, q, end, e,                                 \
                                          std::make_index_sequence<kShapes[S].n>());
    TRACER_SHAPE_CASE(0)
    TRACER_SHAPE_CASE(1)
    TRACER_SHAPE_CASE(2)
    TRACER_SHAPE_CASE(3)
    TRACER_SHAPE_CASE(4)
    TRACER_SHAPE_CASE(5)
    TRACER_SHAPE_CASE(6)
    TRACER_SHAPE_CASE(7)
    TRACER_SHAPE_CASE(8)
    TRACER_SHAPE_CASE(9)
    TRACER_SHAPE_CASE(10)
    TRACER_SHAPE_CASE(11)
    TRACER_SHAPE_CASE(12)
    TRACER_SHAPE_CASE(13)
    TRACER_SHAPE_CASE(14)
    TRACER_SHAPE_CASE(15)
    TRACER_SHAPE_CASE(16)
#undef TRACER_SHAPE_CASE
    default:
      return nullptr;
  }
}

// An event starting at least this far before the end of its batch has all its varints (the
// delta and up to kMaxEventArgs arguments, at most ten bytes each, after the type byte), plus
// the eight bytes DecodeVarintLong loads, readable without bounds checks.
constexpr ptrdiff_t kFastMargin = 1 + (1 + kMaxEventArgs) * format_internal::kMaxVarintBytes + 8;

const DecodeTypeInfo* DecodeTypeInfos() {
  static const DecodeTypeInfo* const table = [] {
    auto* t = new DecodeTypeInfo[256];
    for (int i = 0; i < 256; ++i) {
      const EventSpec* spec = FindEventSpec(static_cast<uint8_t>(i));
      if (spec == nullptr) continue;
      t[i].valid = true;
      t[i].num_args = static_cast<uint8_t>(spec->num_args);
      t[i].plain = true;
      for (int a = 0; a < spec->num_args; ++a) {
        t[i].kinds[a] = spec->args[a].kind;
        if (spec->args[a].kind != ArgKind::kId && spec->args[a].kind != ArgKind::kUint) {
          t[i].plain = false;
        }
      }
      t[i].fast = FindShapeDecoder(*spec);
      const size_t shape = FindShape(*spec);
      t[i].shape = shape < kNumShapes ? static_cast<uint8_t>(shape) : uint8_t{0xff};
    }
    return t;
  }();
  return table;
}

// The common run of DecodeBlock: events far from the end of the batch, of a type with a shape
// decoder, that decode cleanly. Stops before anything else (the end, an error, a type without
// a shape), which BatchEventReader::NextImpl then decodes again and reports exactly. Flattened:
// the table look-ups (FindStack, ...) must not stay calls in the hottest loop. It does not
// check that varints are minimal (that would cost a compare per varint): TraceReader's event
// validation did, unless the tool turned it off.
__attribute__((flatten)) size_t DecodeRun(const DecodeTypeInfo* types, const Generation& gen,
                                          const char* end, uint64_t thread, Event* out,
                                          size_t room, const char** p_io, uint64_t* tick_io) {
  const char* p = *p_io;
  uint64_t tick = *tick_io;
  size_t n = 0;
  while (n < room && end - p >= kFastMargin) {
    const uint8_t type = static_cast<uint8_t>(*p);
    const uint8_t shape = types[type].shape;  // 0xff for invalid types too
    if (ABSL_PREDICT_FALSE(shape == 0xff)) break;
    uint64_t delta;
    const char* q = format_internal::DecodeVarintPredicted</*kCanonical=*/false>(p + 1, &delta);
    if (ABSL_PREDICT_FALSE(q == nullptr || delta > UINT64_MAX - tick)) break;
    Event* const e = out + n;
    const uint64_t t = tick + delta;
    e->type = static_cast<EventType>(type);
    e->thread = thread;
    e->tick = t;
    q = DecodeShapeById</*kChecked=*/false>(shape, gen, q, end, e);
    if (ABSL_PREDICT_FALSE(q == nullptr)) break;
    p = q;
    tick = t;
    ++n;
  }
  *p_io = p;
  *tick_io = tick;
  return n;
}

}  // namespace

BatchEventReader::BatchEventReader(const Generation& gen, size_t batch_index)
    : gen_(&gen), types_(DecodeTypeInfos()), batch_index_(batch_index) {
  const Batch& b = gen.batches[batch_index];
  begin_ = p_ = b.events.data();
  end_ = begin_ + b.events.size();
  tick_ = b.base_tick;
  thread_ = b.thread;
  num_events_ = b.num_events;
}

bool BatchEventReader::Fail(const char* what, uint64_t detail) {
  const Batch& b = gen_->batches[batch_index_];
  const uint64_t payload_off = b.payload_offset + (p_ - begin_);
  std::string pos =
      gen_->compressed
          ? absl::StrFormat("payload offset %d (in the lz4-decompressed payload)", payload_off)
          : absl::StrFormat("file offset %d",
                            gen_->file_offset + gen_->header_size + payload_off);
  status_ = absl::DataLossError(absl::StrFormat(
      "generation %d at file offset %d, batch %d (thread %d), event %d at %s: %s %d", gen_->seq,
      gen_->file_offset, batch_index_, b.thread, decoded_, pos, what, detail));
  p_ = end_;
  return false;
}

bool BatchEventReader::PeekTick(uint64_t* tick) const {
  if (p_ >= end_) {
    *tick = tick_;
    return status_.ok() && decoded_ != num_events_;  // Next() reports the shortfall
  }
  uint64_t delta;
  const char* q = DecodeVarint(p_ + 1, end_, &delta);
  *tick = q == nullptr || delta > UINT64_MAX - tick_ ? tick_ : tick_ + delta;
  return true;
}

// The end of the batch, or more events than declared.
bool BatchEventReader::NextSlow(Event* e) {
  (void)e;
  if (p_ >= end_) {
    if (status_.ok() && decoded_ != num_events_) {
      return Fail("batch ends early: events decoded vs declared", num_events_);
    }
    return false;
  }
  return Fail("batch holds more events than declared", decoded_);
}

template <bool kFast>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline const char* BatchEventReader::DecodeArgs(
    const DecodeTypeInfo& info, const char* q, Event* e) {
  if constexpr (kFast) {
    if (ABSL_PREDICT_TRUE(info.shape != 0xff)) {
      const char* r = DecodeShapeById</*kChecked=*/true>(info.shape, *gen_, q, end_, e);
      if (ABSL_PREDICT_TRUE(r != nullptr)) return r;
      return DecodeArgs<false>(info, q, e);  // to report exactly what is wrong
    }
  }
  auto varint = [&](const char* at, uint64_t* v) {
    return kFast ? format_internal::DecodeVarintFast</*kCanonical=*/true>(at, v)
                 : DecodeVarint(at, end_, v);
  };
  const int n = info.num_args;
  e->bytes = {};
  auto fail_varint = [&](const char* at, int i) {
    Fail(format_internal::IsOverlongVarint(at, end_)
             ? "overlong (non-canonical) argument varint, argument"
             : "truncated or bad argument varint, argument",
         i);
    return nullptr;
  };
  if (info.plain) {
    for (int i = 0; i < n; ++i) {
      const char* at = q;
      q = varint(q, &e->args[i]);
      if (ABSL_PREDICT_FALSE(q == nullptr)) return fail_varint(at, i);
    }
    return q;
  }
  for (int i = 0; i < n; ++i) {
    uint64_t v;
    const char* at = q;
    q = varint(q, &v);
    if (ABSL_PREDICT_FALSE(q == nullptr)) return fail_varint(at, i);
    switch (info.kinds[i]) {
      case ArgKind::kId:
      case ArgKind::kUint:
        break;
      case ArgKind::kSint:
        v = static_cast<uint64_t>(UnZigZag(v));
        break;
      case ArgKind::kString:
        if (ABSL_PREDICT_FALSE(!gen_->HasString(v))) {
          Fail("undefined string id", v);
          return nullptr;
        }
        break;
      case ArgKind::kStack:
        if (ABSL_PREDICT_FALSE(v != 0 && gen_->FindStack(v) == nullptr)) {
          Fail("undefined stack id", v);
          return nullptr;
        }
        break;
      case ArgKind::kLabelSet:
        if (ABSL_PREDICT_FALSE(v != 0 && gen_->FindLabelSet(v) == nullptr)) {
          Fail("undefined label set", v);
          return nullptr;
        }
        break;
      case ArgKind::kReason:
        if (ABSL_PREDICT_FALSE(v >= static_cast<uint64_t>(BlockReason::kNumBlockReasons))) {
          Fail("invalid block reason", v);
          return nullptr;
        }
        break;
      case ArgKind::kPhaseFlags:
        if (ABSL_PREDICT_FALSE((v & ~static_cast<uint64_t>(kPhaseKnownFlags)) != 0)) {
          Fail("unknown phase flags", v);
          return nullptr;
        }
        break;
      case ArgKind::kBytes:
        if (ABSL_PREDICT_FALSE(v > static_cast<uint64_t>(end_ - q))) {
          Fail("inline bytes overrun, length", v);
          return nullptr;
        }
        e->bytes = absl::string_view(q, v);
        q += v;
        break;
    }
    e->args[i] = v;
  }
  return q;
}

// Hot path: every check stays, but the common event (known type, short varints, ids that
// resolve) goes through without a call or a table walk, and without bounds checks per varint
// when the event starts far enough from the end of its batch.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool BatchEventReader::NextImpl(Event* e) {
  if (ABSL_PREDICT_FALSE(p_ >= end_ || decoded_ == num_events_)) return NextSlow(e);
  const uint8_t type = static_cast<uint8_t>(*p_);
  const DecodeTypeInfo& info = types_[type];
  if (ABSL_PREDICT_FALSE(!info.valid)) return Fail("unknown event type", type);
  const bool fast = end_ - p_ >= kFastMargin;
  uint64_t delta;
  const char* q = fast ? format_internal::DecodeVarintFast</*kCanonical=*/true>(p_ + 1, &delta)
                       : DecodeVarint(p_ + 1, end_, &delta);
  if (ABSL_PREDICT_FALSE(q == nullptr)) {
    return Fail(format_internal::IsOverlongVarint(p_ + 1, end_)
                    ? "overlong (non-canonical) timestamp varint in event of type"
                    : "bad timestamp varint in event of type",
                type);
  }
  if (ABSL_PREDICT_FALSE(delta > UINT64_MAX - tick_)) return Fail("timestamp overflows, delta", delta);
  const uint64_t tick = tick_ + delta;
  e->type = static_cast<EventType>(type);
  e->thread = thread_;
  e->tick = tick;
  q = fast ? DecodeArgs<true>(info, q, e) : DecodeArgs<false>(info, q, e);
  if (ABSL_PREDICT_FALSE(q == nullptr)) return false;
  p_ = q;
  tick_ = tick;
  ++decoded_;
  return true;
}

bool BatchEventReader::Next(Event* e) { return NextImpl(e); }

size_t BatchEventReader::DecodeBlock(Event* out, size_t max) {
  // DecodeRun takes the common events; NextImpl the rest (and reports errors exactly).
  size_t n = 0;
  {
    const char* p = p_;
    uint64_t tick = tick_;
    const size_t room = static_cast<size_t>(
        std::min<uint64_t>(max, num_events_ - decoded_));  // decoded_ <= num_events_
    n = DecodeRun(types_, *gen_, end_, thread_, out, room, &p, &tick);
    p_ = p;
    tick_ = tick;
    decoded_ += n;
  }
  while (n < max && NextImpl(out + n)) ++n;
  return n;
}

bool BatchEventReader::LoadHeader() {
  if (p_ >= end_ || decoded_ == num_events_) return false;
  const uint8_t type = static_cast<uint8_t>(*p_);
  if (!types_[type].valid) return false;
  uint64_t delta;
  const char* q = DecodeVarint(p_ + 1, end_, &delta);
  if (q == nullptr || delta > UINT64_MAX - tick_) return false;
  hdr_tick_ = tick_ + delta;
  return true;
}

MergedGenerationReader::MergedGenerationReader(const Generation& gen) : gen_(&gen) {
  const size_t n = gen.batches.size();
  readers_.reserve(n);
  // Batches of one thread follow each other in time, so only about one per thread is in the
  // tree at once: the others wait in `pending_` (sorted once) until the merge reaches them.
  // A batch's key is the tick of its first event if that event's header is well-formed, else
  // its base tick (the error surfaces there); batches with nothing to say are left out.
  size_t threads = 0;
  base_ = UINT64_MAX;
  for (size_t i = 0; i < n; ++i) {
    if (i == 0 || gen.batches[i].thread != gen.batches[i - 1].thread) ++threads;
    readers_.emplace_back(gen, i);
    BatchEventReader& r = readers_.back();
    base_ = std::min(base_, r.tick_);
    if (r.LoadHeader()) {
      pending_.push_back(static_cast<Head>(r.hdr_tick_) << 32 | i);
    } else if (!r.Finished()) {
      pending_.push_back(static_cast<Head>(r.tick_) << 32 | i);
    }
  }
  std::sort(pending_.begin(), pending_.end(), std::greater<Head>());
  shift_ = 1;
  while (shift_ < 40 && (uint64_t{1} << shift_) < n) ++shift_;
  // The largest key, ((limit_ - 1) << shift_ | all ones), stays below kRefill.
  limit_ = (uint64_t{1} << (64 - shift_)) - 1;
  PopPending();  // loads next_pending_ from the back
  AddSlots();
  while (slots_ < threads) AddSlots();
}

// Makes pending_.back() the next pending batch (the caller removed the previous one).
void MergedGenerationReader::PopPending() {
  if (pending_.empty()) {
    next_pending_ = kNoHead;
    next_pending_key_ = kNone;
    return;
  }
  next_pending_ = pending_.back();
  const uint64_t tick = static_cast<uint64_t>(next_pending_ >> 32);
  const uint64_t batch = static_cast<uint32_t>(next_pending_);
  next_pending_key_ = tick - base_ < limit_ ? (tick - base_) << shift_ | batch : kRefill;
}

// Doubles the slots (a first call makes one), moving the blocks. The caller rebuilds the tree.
void MergedGenerationReader::AddSlots() {
  const uint32_t old = slots_;
  slots_ = old == 0 ? 1 : old * 2;
  auto events = std::make_unique<Event[]>(size_t{slots_} * kBlock);
  auto keys = std::make_unique<uint64_t[]>(size_t{slots_} * kKeyStride);
  if (old > 0) {
    std::copy(events_.get(), events_.get() + size_t{old} * kBlock, events.get());
    std::copy(keys_.get(), keys_.get() + size_t{old} * kKeyStride, keys.get());
    for (Node& leaf : leaf_) {
      if (leaf.at != nullptr) leaf.at = keys.get() + (leaf.at - keys_.get());
    }
  }
  events_ = std::move(events);
  keys_ = std::move(keys);
  leaf_.resize(slots_, Node{kNone, nullptr, 0});
  loser_.assign(slots_, Node{kNone, nullptr, 0});
  slot_batch_.resize(slots_, kFreeSlot);
  slot_n_.resize(slots_, 0);
  slot_pos_.resize(slots_, 0);
  for (uint32_t s = 0; s < slots_; ++s) leaf_[s].parent = (s + slots_) >> 1;
  for (uint32_t s = slots_; s > old; --s) free_slots_.push_back(s - 1);
}

uint32_t MergedGenerationReader::TakeSlot(uint32_t batch) {
  if (free_slots_.empty()) AddSlots();  // more batches overlap in time than there are slots
  const uint32_t slot = free_slots_.back();
  free_slots_.pop_back();
  slot_batch_[slot] = batch;
  return slot;
}

void MergedGenerationReader::FreeSlot(uint32_t slot) {
  slot_batch_[slot] = kFreeSlot;
  leaf_[slot] = Node{kNone, nullptr, (slot + slots_) >> 1};
  free_slots_.push_back(slot);
}

bool MergedGenerationReader::Refill(uint32_t slot, uint64_t* key) {
  const uint32_t batch = slot_batch_[slot];
  BatchEventReader& r = readers_[batch];
  Event* const events = EventsOf(slot);
  uint64_t* const keys = KeysOf(slot);
  const uint32_t n = static_cast<uint32_t>(r.DecodeBlock(events, kBlock));
  slot_n_[slot] = n;
  slot_pos_[slot] = 0;
  if (n == 0) {
    if (r.status().ok()) {
      *key = kNone;
      return true;
    }
    if (r.tick_ - base_ >= limit_) return false;
    keys[0] = (r.tick_ - base_) << shift_ | batch;
    keys[1] = kRefill;
    *key = keys[0];
    return true;
  }
  if (events[n - 1].tick - base_ >= limit_) return false;  // ticks only grow in a batch
  for (uint32_t i = 0; i < n; ++i) keys[i] = (events[i].tick - base_) << shift_ | batch;
  keys[n] = kRefill;
  *key = keys[0];
  return true;
}

void MergedGenerationReader::Rebuild() {
  // winners[node] for internal nodes; children of node are 2node and 2node+1, where an index
  // >= slots_ names leaf (index - slots_).
  std::vector<Node> winners(2 * size_t{slots_});
  for (uint32_t s = 0; s < slots_; ++s) winners[slots_ + s] = leaf_[s];
  for (size_t node = slots_ - 1; node > 0; --node) {
    const Node a = winners[2 * node], b = winners[2 * node + 1];
    winners[node] = a.key < b.key ? a : b;
    loser_[node] = a.key < b.key ? b : a;
  }
  win_ = winners[1];
}

// Brings every pending batch whose first key is below the current winner into the tree.
void MergedGenerationReader::InsertPending() {
  while (!wide_ && next_pending_key_ < win_.key) {
    const uint32_t slot = TakeSlot(static_cast<uint32_t>(next_pending_));
    pending_.pop_back();
    PopPending();
    uint64_t key;
    if (!Refill(slot, &key)) {
      SwitchToWide(slot);
      return;
    }
    if (key == kNone) {
      FreeSlot(slot);  // defensive: a pending batch has an event or an error
    } else {
      leaf_[slot] = Node{key, KeysOf(slot), (slot + slots_) >> 1};
    }
    Rebuild();
  }
}

// Hands the slots over to NextWide: each one's position comes from its leaf, except for
// `fresh_slot`, whose new block starts at 0.
void MergedGenerationReader::SwitchToWide(uint32_t fresh_slot) {
  for (uint32_t s = 0; s < slots_; ++s) {
    if (slot_batch_[s] == kFreeSlot || s == fresh_slot || leaf_[s].at == nullptr) continue;
    slot_pos_[s] = static_cast<uint32_t>(leaf_[s].at - KeysOf(s));
  }
  slot_pos_[fresh_slot] = 0;
  wide_ = true;
}

bool MergedGenerationReader::Fail(uint32_t slot) {
  status_ = readers_[slot_batch_[slot]].status();
  pending_.clear();
  next_pending_ = kNoHead;
  next_pending_key_ = kNone;
  win_ = Node{kNone, nullptr, 0};
  wide_ = false;
  for (uint32_t s = 0; s < slots_; ++s) {
    if (slot_batch_[s] != kFreeSlot) FreeSlot(s);
  }
  return false;
}

// The exact but slower merge for ticks too far apart for 64-bit keys: a scan of the slots.
const Event* MergedGenerationReader::NextWide() {
  for (;;) {
    Head best = kNoHead;
    uint32_t best_slot = 0;
    for (uint32_t s = 0; s < slots_; ++s) {
      const uint32_t b = slot_batch_[s];
      if (b == kFreeSlot) continue;
      const uint32_t pos = slot_pos_[s];
      const uint64_t tick = pos < slot_n_[s] ? EventsOf(s)[pos].tick : readers_[b].tick_;
      const Head k = static_cast<Head>(tick) << 32 | b;
      if (k < best) {
        best = k;
        best_slot = s;
      }
    }
    if (next_pending_ < best) {
      const uint32_t slot = TakeSlot(static_cast<uint32_t>(next_pending_));
      pending_.pop_back();
      PopPending();
      uint64_t unused;
      Refill(slot, &unused);
      if (slot_n_[slot] == 0 && readers_[slot_batch_[slot]].status().ok()) FreeSlot(slot);
      continue;
    }
    if (best == kNoHead) return nullptr;
    const uint32_t slot = best_slot;
    if (slot_pos_[slot] >= slot_n_[slot]) {
      Fail(slot);
      return nullptr;
    }
    last_ = EventsOf(slot)[slot_pos_[slot]++];
    if (slot_pos_[slot] == slot_n_[slot]) {
      uint64_t unused;
      Refill(slot, &unused);
      if (slot_n_[slot] == 0 && readers_[slot_batch_[slot]].status().ok()) FreeSlot(slot);
    }
    return &last_;
  }
}

// Next() off its fast path: pending batches to bring in, wide mode, the end, or an error.
const Event* MergedGenerationReader::NextSlow() {
  if (ABSL_PREDICT_FALSE(next_pending_key_ < win_.key || wide_)) {
    InsertPending();
    if (wide_) return NextWide();
  }
  if (ABSL_PREDICT_FALSE(win_.key == kNone)) return nullptr;
  const uint64_t* at = win_.at;
  const size_t k = static_cast<size_t>(at - keys_.get());
  const uint32_t slot = static_cast<uint32_t>(k >> kKeyStrideShift);
  const uint32_t i = static_cast<uint32_t>(k & (kKeyStride - 1));
  if (ABSL_PREDICT_FALSE(i >= slot_n_[slot])) {  // the key promised an error
    Fail(slot);
    return nullptr;
  }
  const Event* e = &events_[size_t{slot} * kBlock + i];
  ++at;
  uint64_t key = *at;
  if (ABSL_PREDICT_FALSE(key == kRefill)) {
    last_ = *e;  // the refill overwrites the block
    e = &last_;
    if (!Refill(slot, &key)) {
      SwitchToWide(slot);
      return e;
    }
    at = KeysOf(slot);
    if (key == kNone) {
      slot_batch_[slot] = kFreeSlot;
      free_slots_.push_back(slot);
    }
  }
  Replay(slot, key, at);
  return e;
}

const Event* EventStream::Next() {
  for (;;) {
    if (!status_.ok()) return nullptr;
    if (merged_ != nullptr) {
      if (const Event* e = merged_->Next()) return e;
      if (!merged_->status().ok()) {
        status_ = merged_->status();
        return nullptr;
      }
    }
    absl::StatusOr<std::shared_ptr<const Generation>> g = reader_->Next();
    if (!g.ok()) {
      status_ = g.status();
      return nullptr;
    }
    if (*g == nullptr) return nullptr;
    merged_.reset();
    gen_ = std::move(*g);
    merged_ = std::make_unique<MergedGenerationReader>(*gen_);
  }
}

}  // namespace tracer::format
