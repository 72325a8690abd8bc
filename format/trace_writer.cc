#include "format/trace_writer.h"

#include <lz4.h>
#include <zlib.h>

#include <cassert>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "format/constants.h"
#include "format/internal/payload_crc.h"
#include "format/internal/varint.h"

namespace tracer::format {

using format_internal::AppendVarint;
using format_internal::StoreLE16;
using format_internal::StoreLE32;
using format_internal::StoreLE64;
using format_internal::VarintLength;
using format_internal::ZigZag;

void AppendFileHeader(std::string* out) {
  char h[kFileHeaderSize];
  std::memcpy(h, kFileMagic, sizeof(kFileMagic));
  StoreLE16(h + 8, kVersionMajor);
  StoreLE16(h + 10, kVersionMinor);
  StoreLE32(h + 12, 0);  // flags: none defined in 1.0
  out->append(h, sizeof(h));
}

void EventEncoder::Append(EventType type, uint64_t tick, std::initializer_list<uint64_t> args,
                          absl::string_view bytes) {
  const EventSpec& spec = GetEventSpec(type);
  assert(static_cast<int>(args.size()) == spec.num_args - (spec.has_bytes() ? 1 : 0));
  assert(tick >= last_tick_);
  data_.push_back(static_cast<char>(type));
  AppendVarint(&data_, tick - last_tick_);
  last_tick_ = tick;
  AppendArgs(spec, args.begin(), static_cast<int>(args.size()), bytes);
  ++num_events_;
}

void EventEncoder::Append(const Event& e) {
  const EventSpec& spec = e.spec();
  assert(e.tick >= last_tick_);
  data_.push_back(static_cast<char>(e.type));
  AppendVarint(&data_, e.tick - last_tick_);
  last_tick_ = e.tick;
  AppendArgs(spec, e.args, spec.num_args - (spec.has_bytes() ? 1 : 0), e.bytes);
  ++num_events_;
}

void EventEncoder::AppendArgs(const EventSpec& spec, const uint64_t* args, int n,
                              absl::string_view bytes) {
  for (int i = 0; i < n; ++i) {
    uint64_t v = args[i];
    if (spec.args[i].kind == ArgKind::kSint) v = ZigZag(static_cast<int64_t>(v));
    AppendVarint(&data_, v);
  }
  if (spec.has_bytes()) {
    AppendVarint(&data_, bytes.size());
    data_.append(bytes.data(), bytes.size());
  }
}

void GenerationBuilder::AddString(uint64_t id, absl::string_view s) {
  ++strings_.count;
  AppendVarint(&strings_.body, id);
  AppendVarint(&strings_.body, s.size());
  strings_.body.append(s.data(), s.size());
}

void GenerationBuilder::AddStack(uint64_t id, absl::Span<const Frame> frames) {
  ++stacks_.count;
  AppendVarint(&stacks_.body, id);
  AppendVarint(&stacks_.body, frames.size());
  for (const Frame& f : frames) {
    AppendVarint(&stacks_.body, f.pc);
    AppendVarint(&stacks_.body, f.func);
    AppendVarint(&stacks_.body, f.file);
    AppendVarint(&stacks_.body, f.line);
  }
}

void GenerationBuilder::AddThread(const ThreadInfo& t) {
  ++threads_.count;
  AppendVarint(&threads_.body, t.id);
  AppendVarint(&threads_.body, t.name);
}

void GenerationBuilder::AddTask(const TaskState& t) {
  ++tasks_.count;
  std::string& b = tasks_.body;
  AppendVarint(&b, t.id);
  AppendVarint(&b, t.parent);
  AppendVarint(&b, t.name);
  b.push_back(static_cast<char>(t.status));
  AppendVarint(&b, t.thread);
  AppendVarint(&b, t.labels);
  AppendVarint(&b, t.seq);
  b.push_back(static_cast<char>(t.reason));
}

void GenerationBuilder::AddLiveTask(const LiveTask& t) {
  ++live_tasks_.count;
  std::string& b = live_tasks_.body;
  AppendVarint(&b, t.id);
  AppendVarint(&b, t.parent);
  AppendVarint(&b, t.name);
  b.push_back(static_cast<char>(t.status));
  AppendVarint(&b, t.thread);
  AppendVarint(&b, t.labels);
  b.push_back(static_cast<char>(t.reason));
  AppendVarint(&b, t.object);
  AppendVarint(&b, t.since_tick);
  AppendVarint(&b, t.stack);
}

void GenerationBuilder::AddUserTask(const UserTaskInfo& t) {
  ++user_tasks_.count;
  AppendVarint(&user_tasks_.body, t.id);
  AppendVarint(&user_tasks_.body, t.parent);
  AppendVarint(&user_tasks_.body, t.name);
}

void GenerationBuilder::AddLabelSet(uint64_t id,
                                    absl::Span<const std::pair<uint64_t, uint64_t>> labels) {
  ++label_sets_.count;
  AppendVarint(&label_sets_.body, id);
  AppendVarint(&label_sets_.body, labels.size());
  for (const auto& [k, v] : labels) {
    AppendVarint(&label_sets_.body, k);
    AppendVarint(&label_sets_.body, v);
  }
}

void GenerationBuilder::AddLoss(const LossRecord& l) {
  ++losses_.count;
  AppendVarint(&losses_.body, l.thread);
  AppendVarint(&losses_.body, l.count);
  AppendVarint(&losses_.body, l.begin_tick);
  AppendVarint(&losses_.body, l.end_tick);
}

void GenerationBuilder::AddMapping(const Mapping& m) {
  ++mappings_.count;
  AppendVarint(&mappings_.body, m.start);
  AppendVarint(&mappings_.body, m.end);
  AppendVarint(&mappings_.body, m.offset);
  AppendVarint(&mappings_.body, m.path);
  AppendVarint(&mappings_.body, m.build_id);
}

void GenerationBuilder::AddBatch(uint64_t thread, uint64_t seq, uint64_t base_tick,
                                 uint64_t num_events, absl::string_view events) {
  std::string head;
  AppendVarint(&head, thread);
  AppendVarint(&head, seq);
  AppendVarint(&head, base_tick);
  AppendVarint(&head, num_events);
  AppendVarint(&head, events.size());
  batches_.push_back(static_cast<char>(SectionKind::kBatch));
  AppendVarint(&batches_, head.size() + events.size());
  batches_ += head;
  batches_.append(events.data(), events.size());
  ++num_batches_;
}

void GenerationBuilder::AddCrashBatch(uint64_t thread, uint64_t seq, uint64_t base_tick,
                                      absl::string_view events) {
  std::string body;
  AppendVarint(&body, thread);
  AppendVarint(&body, seq);
  AppendVarint(&body, base_tick);
  AppendVarint(&body, events.size());
  uint32_t crc = format_internal::Crc32(0, body.data(), body.size());
  crc = format_internal::Crc32(crc, events.data(), events.size());
  AddCrashBatchWithCrcForTesting(thread, seq, base_tick, events, crc);
}

void GenerationBuilder::AddCrashBatchWithCrcForTesting(uint64_t thread, uint64_t seq,
                                                       uint64_t base_tick,
                                                       absl::string_view events, uint32_t crc) {
  assert(crash_);
  std::string body(4, '\0');
  StoreLE32(body.data(), crc);
  AppendVarint(&body, thread);
  AppendVarint(&body, seq);
  AppendVarint(&body, base_tick);
  AppendVarint(&body, events.size());
  body.append(events.data(), events.size());
  batches_.push_back(static_cast<char>(SectionKind::kCrashBatch));
  AppendVarint(&batches_, body.size());
  batches_ += body;
  ++num_batches_;
}

void GenerationBuilder::AddBatchBorrowed(uint64_t thread, uint64_t seq, uint64_t base_tick,
                                         uint64_t num_events, absl::string_view events) {
  char head[5 * format_internal::kMaxVarintBytes];
  char* h = head;
  for (uint64_t v : {thread, seq, base_tick, num_events, uint64_t{events.size()}}) {
    h = format_internal::EncodeVarint(h, v);
  }
  const size_t head_len = static_cast<size_t>(h - head);
  batches_.push_back(static_cast<char>(SectionKind::kBatch));
  AppendVarint(&batches_, head_len + events.size());
  batches_.append(head, head_len);
  borrowed_.push_back({batches_.size(), events});
  borrowed_bytes_ += events.size();
  ++num_batches_;
}

void GenerationBuilder::AppendSection(std::string* payload, uint8_t kind, const Table& t) {
  if (t.count == 0) return;
  std::string count;
  AppendVarint(&count, t.count);
  payload->push_back(static_cast<char>(kind));
  AppendVarint(payload, count.size() + t.body.size());
  *payload += count;
  *payload += t.body;
}

size_t GenerationBuilder::raw_payload_bytes() const {
  auto section = [](size_t body) { return 1 + VarintLength(body) + body; };
  size_t n = section(VarintLength(clock_.ticks_per_second) + VarintLength(clock_.tick) +
                     VarintLength(static_cast<uint64_t>(clock_.mono_ns)) +
                     VarintLength(static_cast<uint64_t>(clock_.real_ns)));
  for (const Table* t : {&strings_, &stacks_, &threads_, &tasks_, &user_tasks_, &label_sets_,
                         &losses_, &mappings_, &live_tasks_}) {
    if (t->count != 0) n += section(VarintLength(t->count) + t->body.size());
  }
  if (listing_ && live_tasks_.count == 0) n += section(1);
  return n + batches_.size() + borrowed_bytes_;
}

absl::StatusOr<size_t> GenerationBuilder::TryAppendTo(std::string* out, bool compress) const {
  if (const size_t raw = raw_payload_bytes(); raw > max_payload_bytes_) {
    return absl::OutOfRangeError(absl::StrFormat(
        "generation %d: the payload would be %d bytes, over the format's limit of %d "
        "(kMaxPayloadBytes); nothing written: cut smaller generations",
        seq_, raw, max_payload_bytes_));
  }
  // The payload is built in place after room for the header (one copy of the batches, not
  // two: the collector seals large generations with this).
  const size_t start = out->size();
  out->append(kGenerationHeaderSize, '\0');
  {
    std::string clock;
    AppendVarint(&clock, clock_.ticks_per_second);
    AppendVarint(&clock, clock_.tick);
    AppendVarint(&clock, static_cast<uint64_t>(clock_.mono_ns));
    AppendVarint(&clock, static_cast<uint64_t>(clock_.real_ns));
    out->push_back(static_cast<char>(SectionKind::kClock));
    AppendVarint(out, clock.size());
    *out += clock;
  }
  AppendSection(out, static_cast<uint8_t>(SectionKind::kStrings), strings_);
  AppendSection(out, static_cast<uint8_t>(SectionKind::kStacks), stacks_);
  AppendSection(out, static_cast<uint8_t>(SectionKind::kThreads), threads_);
  AppendSection(out, static_cast<uint8_t>(SectionKind::kTasks), tasks_);
  AppendSection(out, static_cast<uint8_t>(SectionKind::kUserTasks), user_tasks_);
  AppendSection(out, static_cast<uint8_t>(SectionKind::kLabelSets), label_sets_);
  AppendSection(out, static_cast<uint8_t>(SectionKind::kLosses), losses_);
  AppendSection(out, static_cast<uint8_t>(SectionKind::kMappings), mappings_);
  if (listing_ && live_tasks_.count == 0) {
    out->push_back(static_cast<char>(SectionKind::kLiveTasks));
    out->push_back(1);  // body length
    out->push_back(0);  // no entries
  } else {
    AppendSection(out, static_cast<uint8_t>(SectionKind::kLiveTasks), live_tasks_);
  }
  size_t from = 0;
  for (const Borrowed& b : borrowed_) {
    out->append(batches_, from, b.at - from);
    out->append(b.events.data(), b.events.size());
    from = b.at;
  }
  out->append(batches_, from, std::string::npos);
  const size_t body_start = start + kGenerationHeaderSize;
  const size_t raw_len = out->size() - body_start;
  assert(raw_len == raw_payload_bytes());

  uint16_t flags = crash_ ? kGenFlagCrash : 0;
  if (compress && raw_len > 0 && !crash_) {
    std::string stored(LZ4_compressBound(static_cast<int>(raw_len)), '\0');
    int n = LZ4_compress_default(out->data() + body_start, stored.data(),
                                 static_cast<int>(raw_len), static_cast<int>(stored.size()));
    if (n > 0 && static_cast<size_t>(n) < raw_len) {
      out->resize(body_start);
      out->append(stored.data(), n);
      flags |= kGenFlagLz4;
    }
  }
  const size_t body_len = out->size() - body_start;

  char* h = out->data() + start;
  StoreLE32(h + 0, kGenerationMagic);
  StoreLE16(h + 4, kGenerationHeaderSize);
  StoreLE16(h + 6, flags);
  StoreLE64(h + 8, seq_);
  StoreLE64(h + 16, static_cast<uint64_t>(begin_ns_));
  StoreLE64(h + 24, static_cast<uint64_t>(end_ns_));
  StoreLE32(h + 32, static_cast<uint32_t>(body_len));
  StoreLE32(h + 36, static_cast<uint32_t>(raw_len));
  uint32_t payload_crc = 0;
  const bool framed = format_internal::PayloadCrc(out->data() + body_start, body_len, crash_,
                                                  &payload_crc);
  assert(framed);  // the builder frames its own sections
  (void)framed;
  StoreLE32(h + 40, payload_crc);
  StoreLE32(h + 44, static_cast<uint32_t>(num_batches_));
  StoreLE32(h + 48, 0);  // reserved
  StoreLE32(h + 52, static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(h), 52)));
  return out->size() - start;
}

}  // namespace tracer::format
