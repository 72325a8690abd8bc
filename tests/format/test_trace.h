// Test support for the format layer: a deterministic RNG, a model of what a test wrote (so a
// read-back can be compared field by field), a random trace generator driven by the event
// table, and a canonical dump of a decoded generation. Header-only; tests only.

#ifndef TRACER_TESTS_FORMAT_TEST_TRACE_H_
#define TRACER_TESTS_FORMAT_TEST_TRACE_H_

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "format/constants.h"
#include "format/event_table.h"
#include "format/generation.h"
#include "format/internal/varint.h"
#include "format/trace_reader.h"
#include "format/trace_writer.h"

namespace tracer::format::testing {

// SplitMix64: deterministic on every platform (unlike std::uniform_int_distribution), so
// golden traces generated from a seed are the same everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint64_t Uniform(uint64_t n) { return n == 0 ? 0 : Next() % n; }  // [0, n)
  uint64_t Range(uint64_t lo, uint64_t hi) { return lo + Uniform(hi - lo + 1); }  // [lo, hi]
  bool OneIn(uint64_t n) { return Uniform(n) == 0; }
  // A value whose varint length is spread over 1..10 bytes, with the edges well represented.
  uint64_t AnyU64() {
    switch (Uniform(6)) {
      case 0: return Uniform(128);
      case 1: return Uniform(1 << 14);
      case 2: return Next() >> Uniform(64);
      case 3: return UINT64_MAX - Uniform(3);
      case 4: return Uniform(2) == 0 ? 0 : (uint64_t{1} << Uniform(64));
      default: return Next();
    }
  }

 private:
  uint64_t state_;
};

// The seed for randomized tests: TRACER_TEST_SEED if set, else `fallback`.
inline uint64_t TestSeed(uint64_t fallback) {
  const char* s = std::getenv("TRACER_TEST_SEED");
  return s != nullptr && *s != '\0' ? std::strtoull(s, nullptr, 0) : fallback;
}

// One event as written: arguments exclude the kBytes one, which is in `bytes`.
struct ModelEvent {
  EventType type = EventType::kInvalid;
  uint64_t tick = 0;
  std::vector<uint64_t> args;
  std::string bytes;
};

struct ModelBatch {
  uint64_t thread = 0;
  uint64_t seq = 0;
  uint64_t base_tick = 0;
  std::vector<ModelEvent> events;
};

// A batch a crash handler copied (section 12): `torn` writes a wrong CRC (the reader drops it
// as torn); `raw_events`, if set, is written instead of the encoded events (undecodable ones).
struct ModelCrashBatch {
  ModelBatch batch;
  bool torn = false;
  std::string raw_events;
  bool accepted() const { return !torn && raw_events.empty(); }
};

// Everything a test puts into one generation.
struct ModelGeneration {
  uint64_t seq = 0;
  int64_t begin_ns = 0;
  int64_t end_ns = 0;
  bool compress = false;
  ClockSnapshot clock;
  std::vector<std::pair<uint64_t, std::string>> strings;
  std::vector<Stack> stacks;
  std::vector<ThreadInfo> threads;
  std::vector<TaskState> tasks;
  std::vector<UserTaskInfo> user_tasks;
  std::vector<LabelSet> label_sets;
  std::vector<LossRecord> losses;
  std::vector<Mapping> mappings;
  bool listing = false;  // a live-task listing (section 11), written even when empty
  bool crash = false;    // written by a crash handler (kGenFlagCrash)
  std::vector<ModelCrashBatch> crash_batches;  // after `batches`
  std::vector<LiveTask> live_tasks;
  std::vector<ModelBatch> batches;  // in the order they are written

  // The batches in the order a reader returns them: by (thread, seq), stable.
  std::vector<ModelBatch> SortedBatches() const {
    std::vector<ModelBatch> b = batches;
    std::stable_sort(b.begin(), b.end(), [](const ModelBatch& x, const ModelBatch& y) {
      return x.thread != y.thread ? x.thread < y.thread : x.seq < y.seq;
    });
    return b;
  }
};

inline Event ToEvent(const ModelEvent& m, uint64_t thread) {
  Event e;
  e.type = m.type;
  e.thread = thread;
  e.tick = m.tick;
  const EventSpec& spec = GetEventSpec(m.type);
  for (size_t i = 0; i < m.args.size(); ++i) e.args[i] = m.args[i];
  if (spec.has_bytes()) {
    e.args[spec.num_args - 1] = m.bytes.size();
    e.bytes = m.bytes;
  }
  return e;
}

inline std::string EncodeBatchEvents(const ModelBatch& b) {
  EventEncoder enc(b.base_tick);
  for (const ModelEvent& m : b.events) enc.Append(ToEvent(m, b.thread));
  return enc.data();
}

// Adds everything of `g` to `gb` (a builder made for g.seq). With `borrowed`, the batches are
// added with AddBatchBorrowed, their bytes kept in `borrowed` (which must outlive the encoding).
inline void FillBuilder(const ModelGeneration& g, GenerationBuilder& gb,
                        std::vector<std::string>* borrowed = nullptr) {
  gb.SetClock(g.clock);
  gb.SetTimeSpan(g.begin_ns, g.end_ns);
  for (const auto& [id, s] : g.strings) gb.AddString(id, s);
  for (const Stack& s : g.stacks) gb.AddStack(s.id, s.frames);
  for (const ThreadInfo& t : g.threads) gb.AddThread(t);
  for (const TaskState& t : g.tasks) gb.AddTask(t);
  for (const UserTaskInfo& t : g.user_tasks) gb.AddUserTask(t);
  for (const LabelSet& l : g.label_sets) gb.AddLabelSet(l.id, l.labels);
  for (const LossRecord& l : g.losses) gb.AddLoss(l);
  for (const Mapping& m : g.mappings) gb.AddMapping(m);
  if (g.listing) gb.SetListing();
  if (g.crash) gb.SetCrash();
  for (const LiveTask& t : g.live_tasks) gb.AddLiveTask(t);
  if (borrowed != nullptr) borrowed->reserve(borrowed->size() + g.batches.size());
  for (const ModelBatch& b : g.batches) {
    if (borrowed == nullptr) {
      gb.AddBatch(b.thread, b.seq, b.base_tick, b.events.size(), EncodeBatchEvents(b));
    } else {
      borrowed->push_back(EncodeBatchEvents(b));
      gb.AddBatchBorrowed(b.thread, b.seq, b.base_tick, b.events.size(), borrowed->back());
    }
  }
  for (const ModelCrashBatch& c : g.crash_batches) {
    const ModelBatch& b = c.batch;
    const std::string events = c.raw_events.empty() ? EncodeBatchEvents(b) : c.raw_events;
    if (c.torn) {
      gb.AddCrashBatchWithCrcForTesting(b.thread, b.seq, b.base_tick, events, 0x7042a11u);
    } else {
      gb.AddCrashBatch(b.thread, b.seq, b.base_tick, events);
    }
  }
}

// Appends one encoded generation (header + payload) to `out`.
inline size_t AppendGeneration(const ModelGeneration& g, std::string* out) {
  GenerationBuilder gb(g.seq);
  FillBuilder(g, gb);
  return gb.AppendTo(out, g.compress);
}

inline std::string EncodeTrace(const std::vector<ModelGeneration>& gens) {
  std::string out;
  AppendFileHeader(&out);
  for (const ModelGeneration& g : gens) AppendGeneration(g, &out);
  return out;
}

struct RandomTraceOptions {
  int generations = 3;
  int threads = 8;
  int max_batches_per_thread = 3;
  int max_events_per_batch = 200;
  bool compress_some = true;  // every other generation (odd seq) asks for lz4
  bool compress_all = false;
  bool big_tables = true;  // one stack of kMaxStackFrames frames, one label set at the max
};

// A random but valid generation. Every event type of the table appears in it (when it has at
// least one event slot per type); arguments are drawn according to their ArgKind so that
// new event types and kinds are covered without touching this code.
inline ModelGeneration RandomGeneration(Rng& rng, uint64_t seq, const RandomTraceOptions& o) {
  ModelGeneration g;
  g.seq = seq;
  g.compress = o.compress_all || (o.compress_some && seq % 2 == 1);
  g.clock.ticks_per_second = rng.OneIn(3) ? 1000000000 : rng.Range(1, 4000000000ull);
  g.clock.tick = rng.Uniform(uint64_t{1} << 50);
  g.clock.mono_ns = static_cast<int64_t>(rng.Uniform(uint64_t{1} << 60));
  g.clock.real_ns = static_cast<int64_t>(rng.Uniform(uint64_t{1} << 62));
  g.begin_ns = g.clock.mono_ns;
  g.end_ns = g.begin_ns + static_cast<int64_t>(rng.Uniform(1u << 30));

  // Strings: ids sparse, some repetitive text so lz4 has something to do.
  const int nstrings = static_cast<int>(rng.Range(1, 40));
  std::vector<uint64_t> string_ids = {0};
  uint64_t id = 0;
  for (int i = 0; i < nstrings; ++i) {
    id += rng.Range(1, 50);
    std::string s;
    switch (rng.Uniform(4)) {
      case 0: break;  // empty string with a real id
      case 1: s = absl::StrCat("function_name_", i, "_", std::string(rng.Uniform(30), 'x')); break;
      case 2:
        for (uint64_t k = rng.Uniform(20); k > 0; --k) s.push_back(static_cast<char>(rng.Next()));
        break;
      default: s = absl::StrCat("/usr/src/project/file", i % 5, ".cc"); break;
    }
    g.strings.emplace_back(id, std::move(s));
    string_ids.push_back(id);
  }
  if (o.big_tables) {  // the largest legal id (must not cost the reader an index of its size)
    g.strings.emplace_back(kMaxTableId, "max id string");
    string_ids.push_back(kMaxTableId);
  }
  auto any_string = [&] { return string_ids[rng.Uniform(string_ids.size())]; };

  std::vector<uint64_t> stack_ids = {0};
  for (uint64_t sid = 1, n = rng.Range(0, 20); sid <= n; ++sid) {
    Stack st;
    st.id = sid * 3;
    for (uint64_t f = rng.Uniform(sid == 1 && o.big_tables ? kMaxStackFrames + 1 : 12); f > 0; --f) {
      st.frames.push_back(Frame{rng.AnyU64(), any_string(), any_string(), rng.Uniform(5000)});
    }
    stack_ids.push_back(st.id);
    g.stacks.push_back(std::move(st));
  }
  auto any_stack = [&] { return stack_ids[rng.Uniform(stack_ids.size())]; };

  std::vector<uint64_t> label_ids = {0};
  for (uint64_t lid = 1, n = rng.Range(0, 6); lid <= n; ++lid) {
    LabelSet ls;
    ls.id = lid + 100;
    for (uint64_t k = rng.Uniform(lid == 1 && o.big_tables ? kMaxLabelsPerSet + 1 : 5); k > 0; --k) {
      ls.labels.emplace_back(any_string(), any_string());
    }
    label_ids.push_back(ls.id);
    g.label_sets.push_back(std::move(ls));
  }
  auto any_labels = [&] { return label_ids[rng.Uniform(label_ids.size())]; };

  std::vector<uint64_t> thread_ids;
  for (int t = 0; t < o.threads; ++t) {
    thread_ids.push_back(rng.OneIn(4) ? rng.AnyU64() : 1000 + t * 7);
    g.threads.push_back(ThreadInfo{thread_ids.back(), any_string()});
  }
  for (uint64_t n = rng.Uniform(12); n > 0; --n) {
    TaskState t;
    t.id = rng.AnyU64();
    t.parent = rng.AnyU64();
    t.name = any_string();
    t.status = static_cast<TaskStatus>(
        rng.Range(1, static_cast<uint64_t>(TaskStatus::kNumTaskStatuses) - 1));
    t.thread = rng.AnyU64();
    t.labels = any_labels();
    t.seq = rng.AnyU64();
    t.reason = static_cast<BlockReason>(
        rng.Uniform(static_cast<uint64_t>(BlockReason::kNumBlockReasons)));
    g.tasks.push_back(t);
  }
  for (uint64_t n = rng.Uniform(6); n > 0; --n) {
    g.user_tasks.push_back(UserTaskInfo{rng.AnyU64(), rng.AnyU64(), any_string()});
  }
  for (uint64_t n = rng.Uniform(4); n > 0; --n) {
    uint64_t b = rng.AnyU64() >> 1;
    g.losses.push_back(LossRecord{rng.AnyU64(), rng.AnyU64(), b, b + rng.Uniform(1 << 20)});
  }
  for (uint64_t n = rng.Uniform(4); n > 0; --n) {
    uint64_t s = rng.AnyU64() >> 1;
    g.mappings.push_back(Mapping{s, s + rng.Uniform(1 << 30), rng.AnyU64(), any_string(),
                                 any_string()});
  }

  // Batches: each thread's events cycle through every type first, then random types.
  const int ntypes = static_cast<int>(EventType::kNumEventTypes) - 1;
  uint64_t type_cursor = 0;
  const uint64_t gen_base = g.clock.tick + rng.Uniform(1 << 20);
  for (uint64_t thread : thread_ids) {
    uint64_t tick = gen_base + rng.Uniform(1000);
    const uint64_t nbatches = rng.Range(1, o.max_batches_per_thread);
    for (uint64_t bs = 0; bs < nbatches; ++bs) {
      ModelBatch b;
      b.thread = thread;
      b.seq = bs;
      b.base_tick = tick;
      const uint64_t nevents = rng.Uniform(o.max_events_per_batch + 1);
      for (uint64_t k = 0; k < nevents; ++k) {
        ModelEvent m;
        const uint64_t t = type_cursor < static_cast<uint64_t>(ntypes)
                               ? type_cursor++
                               : rng.Uniform(static_cast<uint64_t>(ntypes));
        m.type = static_cast<EventType>(t + 1);
        switch (rng.Uniform(8)) {
          case 0: break;  // same tick as the previous event: exercises merge ties
          case 1: tick += rng.Uniform(uint64_t{1} << 32); break;
          default: tick += rng.Uniform(200);
        }
        m.tick = tick;
        const EventSpec& spec = GetEventSpec(m.type);
        for (int a = 0; a < spec.num_args; ++a) {
          switch (spec.args[a].kind) {
            case ArgKind::kId:
            case ArgKind::kUint: m.args.push_back(rng.AnyU64()); break;
            case ArgKind::kSint: m.args.push_back(rng.AnyU64()); break;  // any bit pattern
            case ArgKind::kString: m.args.push_back(any_string()); break;
            case ArgKind::kStack: m.args.push_back(any_stack()); break;
            case ArgKind::kLabelSet: m.args.push_back(any_labels()); break;
            case ArgKind::kReason:
              m.args.push_back(rng.Uniform(static_cast<uint64_t>(BlockReason::kNumBlockReasons)));
              break;
            case ArgKind::kPhaseFlags: m.args.push_back(rng.Uniform(kPhaseKnownFlags + 1)); break;
            case ArgKind::kBytes:
              for (uint64_t n = rng.OneIn(10) ? rng.Uniform(300) : rng.Uniform(20); n > 0; --n) {
                m.bytes.push_back(static_cast<char>(rng.Next()));
              }
              break;
          }
        }
        b.events.push_back(std::move(m));
      }
      g.batches.push_back(std::move(b));
      tick += rng.Uniform(100);
    }
  }
  // Writers hand batches over in completion order, not (thread, seq) order.
  for (size_t i = g.batches.size(); i > 1; --i) std::swap(g.batches[i - 1], g.batches[rng.Uniform(i)]);
  return g;
}

inline std::vector<ModelGeneration> RandomTrace(Rng& rng, const RandomTraceOptions& o) {
  std::vector<ModelGeneration> gens;
  uint64_t seq = rng.Uniform(1000);
  for (int i = 0; i < o.generations; ++i) gens.push_back(RandomGeneration(rng, seq++, o));
  return gens;
}

// A canonical text of everything a decoded generation holds (header fields, every table, every
// batch and every event, arguments raw). Two generations are equal iff their dumps are.
inline std::string CanonicalDump(const Generation& g) {
  std::string s = absl::StrCat("gen ", g.seq, " off ", g.file_offset, " size ", g.file_size,
                               " lz4 ", g.compressed, " span ", g.begin_ns, "..", g.end_ns,
                               " clock ", g.clock.ticks_per_second, " ", g.clock.tick, " ",
                               g.clock.mono_ns, " ", g.clock.real_ns, "\n");
  for (const auto& [id, str] : g.strings()) absl::StrAppend(&s, "S", id, "=", str, "\n");
  for (const Stack& st : g.stacks) {
    absl::StrAppend(&s, "K", st.id);
    for (const Frame& f : st.frames) absl::StrAppend(&s, " ", f.pc, "/", f.func, "/", f.file, "/", f.line);
    s += "\n";
  }
  for (const ThreadInfo& t : g.threads) absl::StrAppend(&s, "T", t.id, " ", t.name, "\n");
  for (const TaskState& t : g.tasks) {
    absl::StrAppend(&s, "G", t.id, " ", t.parent, " ", t.name, " ", static_cast<int>(t.status), " ",
                    t.thread, " ", t.labels, " ", t.seq, " ", static_cast<int>(t.reason), "\n");
  }
  for (const UserTaskInfo& t : g.user_tasks) absl::StrAppend(&s, "U", t.id, " ", t.parent, " ", t.name, "\n");
  for (const LabelSet& l : g.label_sets) {
    absl::StrAppend(&s, "L", l.id);
    for (const auto& [k, v] : l.labels) absl::StrAppend(&s, " ", k, ":", v);
    s += "\n";
  }
  for (const LossRecord& l : g.losses) {
    absl::StrAppend(&s, "X", l.thread, " ", l.count, " ", l.begin_tick, " ", l.end_tick, "\n");
  }
  for (const Mapping& m : g.mappings) {
    absl::StrAppend(&s, "M", m.start, " ", m.end, " ", m.offset, " ", m.path, " ", m.build_id, "\n");
  }
  for (size_t i = 0; i < g.batches.size(); ++i) {
    const Batch& b = g.batches[i];
    absl::StrAppend(&s, "B", b.thread, " ", b.seq, " ", b.base_tick, " ", b.num_events, "\n");
    BatchEventReader r(g, i);
    Event e;
    while (r.Next(&e)) {
      absl::StrAppend(&s, " ", static_cast<int>(e.type), "@", e.tick, " t", e.thread);
      for (int a = 0; a < e.spec().num_args; ++a) absl::StrAppend(&s, " ", e.args[a]);
      absl::StrAppend(&s, " '", e.bytes, "'\n");
    }
    if (!r.status().ok()) absl::StrAppend(&s, "ERROR ", r.status().ToString(), "\n");
  }
  return s;
}

// Reads every generation of `bytes`; returns the generations read and the first error (or OK).
struct ReadResult {
  absl::Status open_status;
  std::vector<std::shared_ptr<const Generation>> generations;
  absl::Status status;  // of the Next() that ended the read
};
inline ReadResult ReadAll(std::string bytes, bool validate_events = true) {
  ReadResult res;
  auto reader = TraceReader::FromSource(MakeStringSource(std::move(bytes)));
  if (!reader.ok()) {
    res.open_status = reader.status();
    res.status = reader.status();
    return res;
  }
  (*reader)->set_validate_events(validate_events);
  for (;;) {
    auto g = (*reader)->Next();
    if (!g.ok()) {
      res.status = g.status();
      return res;
    }
    if (*g == nullptr) return res;
    res.generations.push_back(*g);
  }
}

inline uint32_t Crc(absl::string_view s) {
  return static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(s.data()), s.size()));
}

// Re-frames an uncompressed generation (header + payload) around `payload`, OR-ing `add_flags`
// into its flags: lengths and both checksums are recomputed, so damage in `payload` reaches
// the parser instead of stopping at the checksum.
inline std::string Reframe(absl::string_view gen, absl::string_view payload,
                           uint16_t add_flags = 0) {
  using format_internal::LoadLE16;
  using format_internal::StoreLE16;
  using format_internal::StoreLE32;
  std::string h(gen.substr(0, kGenerationHeaderSize));
  StoreLE16(h.data() + 6, LoadLE16(h.data() + 6) | add_flags);
  StoreLE32(h.data() + 32, static_cast<uint32_t>(payload.size()));
  StoreLE32(h.data() + 36, static_cast<uint32_t>(payload.size()));
  StoreLE32(h.data() + 40, Crc(payload));
  StoreLE32(h.data() + 52, Crc(absl::string_view(h.data(), 52)));
  return absl::StrCat(h, payload);
}

}  // namespace tracer::format::testing

#endif  // TRACER_TESTS_FORMAT_TEST_TRACE_H_
