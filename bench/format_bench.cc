// Encode and decode speed of the wire format, and its size on a realistic event mix.
//
// The mix: 8 threads running tasks that enter regions, make syscalls, block and get unblocked,
// 20-2000 ns apart, with timestamps in ticks of 64 TSC cycles at 3 GHz (the runtime stores
// tsc >> 6, as Go does). Floors over the same bytes (memcpy, a plain varint sum) sit in the
// same binary so ratios read from one run.

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "format/event_table.h"
#include "format/generation.h"
#include "format/internal/varint.h"
#include "format/trace_reader.h"
#include "format/trace_writer.h"

namespace tracer::format {
namespace {

constexpr uint64_t kTicksPerSecond = 3000000000ull / 64;
constexpr int kThreads = 8;
constexpr int kEventsPerThread = 1 << 16;
constexpr int kEventsPerBatch = 4096;  // ~ a 16-32 KiB thread buffer

class Rng {
 public:
  explicit Rng(uint64_t s) : s_(s) {}
  uint64_t Next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint64_t Range(uint64_t lo, uint64_t hi) { return lo + Next() % (hi - lo + 1); }

 private:
  uint64_t s_;
};

struct ThreadEvents {
  uint64_t thread;
  std::vector<Event> events;
};

// Strings 1..64 (syscall, region and phase names), stacks 1..400 (a service's distinct call
// sites), tasks 1..5000, lock addresses in a heap arena.
std::vector<ThreadEvents> RealisticMix() {
  Rng rng(42);
  std::vector<ThreadEvents> threads;
  const uint64_t start_tick = 1ull << 40;  // a machine up for a few hours
  std::vector<uint64_t> task_seq(5001, 0);
  for (int t = 0; t < kThreads; ++t) {
    ThreadEvents te{static_cast<uint64_t>(100000 + t), {}};
    uint64_t tick = start_tick + rng.Range(0, 100);
    uint64_t task = 0;
    auto emit = [&](EventType type, std::initializer_list<uint64_t> args) {
      Event e;
      e.type = type;
      e.thread = te.thread;
      tick += (rng.Range(20, 2000) * kTicksPerSecond) / 1000000000;  // 20..2000 ns
      e.tick = tick;
      int i = 0;
      for (uint64_t a : args) e.args[i++] = a;
      te.events.push_back(e);
    };
    while (te.events.size() < kEventsPerThread) {
      task = rng.Range(1, 5000);
      emit(EventType::kTaskStart, {task, ++task_seq[task]});
      const int regions = static_cast<int>(rng.Range(1, 3));
      for (int r = 0; r < regions; ++r) {
        const uint64_t name = rng.Range(1, 32);
        emit(EventType::kRegionBegin, {task, name, rng.Range(1, 400)});
        for (int s = static_cast<int>(rng.Range(0, 2)); s > 0; --s) {
          emit(EventType::kSyscallBegin, {rng.Range(33, 64), rng.Range(1, 400)});
          emit(EventType::kSyscallEnd, {});
        }
        emit(EventType::kRegionEnd, {task, name});
      }
      switch (rng.Range(0, 3)) {
        case 0:
          emit(EventType::kTaskBlock, {task, static_cast<uint64_t>(BlockReason::kMutex),
                                       0x55d0c0a00000 + rng.Range(0, 64) * 64, rng.Range(1, 400)});
          break;
        case 1: {
          const uint64_t other = rng.Range(1, 5000);
          emit(EventType::kTaskUnblock, {other, ++task_seq[other], task,
                                         0x55d0c0a00000 + rng.Range(0, 64) * 64, 0});
          emit(EventType::kTaskYield, {task});
          break;
        }
        case 2: emit(EventType::kTaskBlock, {task, static_cast<uint64_t>(BlockReason::kChannel),
                                             0x55d0c0b00000 + rng.Range(0, 64) * 64, 0});
          break;
        default: emit(EventType::kTaskEnd, {task});
      }
    }
    te.events.resize(kEventsPerThread);
    threads.push_back(std::move(te));
  }
  return threads;
}

const std::vector<ThreadEvents>& Mix() {
  static const auto* mix = new std::vector<ThreadEvents>(RealisticMix());
  return *mix;
}

size_t TotalEvents() { return static_cast<size_t>(kThreads) * kEventsPerThread; }

// One generation of the whole mix, batches of kEventsPerBatch events.
std::string EncodeGeneration(bool compress, size_t* batch_bytes = nullptr) {
  GenerationBuilder gb(1);
  gb.SetClock({kTicksPerSecond, 1ull << 40, 1000000000, 1700000000000000000});
  for (uint64_t id = 1; id <= 64; ++id) gb.AddString(id, "syscall_or_region_name_" + std::to_string(id));
  for (uint64_t id = 1; id <= 400; ++id) {
    std::vector<Frame> frames;
    for (int f = 0; f < 12; ++f) frames.push_back(Frame{0x401000 + id * 64 + f * 8, static_cast<uint64_t>(1 + f % 64), 1, 10});
    gb.AddStack(id, frames);
  }
  size_t bytes = 0;
  for (const ThreadEvents& te : Mix()) {
    for (size_t b = 0; b < te.events.size(); b += kEventsPerBatch) {
      EventEncoder enc(te.events[b].tick);
      const size_t end = std::min(te.events.size(), b + kEventsPerBatch);
      for (size_t i = b; i < end; ++i) enc.Append(te.events[i]);
      bytes += enc.data().size();
      gb.AddBatch(te.thread, b / kEventsPerBatch, enc.base_tick(), enc.num_events(), enc.data());
    }
  }
  if (batch_bytes != nullptr) *batch_bytes = bytes;
  std::string out;
  AppendFileHeader(&out);
  gb.AppendTo(&out, compress);
  return out;
}

std::shared_ptr<const Generation> ReadOne(const std::string& trace) {
  auto r = TraceReader::FromSource(MakeStringSource(trace));
  if (!r.ok()) std::abort();
  auto g = (*r)->Next();
  if (!g.ok() || *g == nullptr) std::abort();
  return *g;
}

const Generation& MixGeneration() {
  static const auto* g = new std::shared_ptr<const Generation>(ReadOne(EncodeGeneration(false)));
  return **g;
}

// ---- Encode ----

void BM_Format_Encode(benchmark::State& state) {
  // First-time setup (building the mix) outside the timed loop: inside it, a one-iteration
  // run (the smoke mode) timed the setup too and reported ~10x the encode.
  const std::vector<ThreadEvents>& mix = Mix();
  const size_t total_events = TotalEvents();
  size_t bytes = 0;
  for (auto _ : state) {
    bytes = 0;
    for (const ThreadEvents& te : mix) {
      for (size_t b = 0; b < te.events.size(); b += kEventsPerBatch) {
        EventEncoder enc(te.events[b].tick);
        const size_t end = std::min(te.events.size(), b + kEventsPerBatch);
        for (size_t i = b; i < end; ++i) enc.Append(te.events[i]);
        bytes += enc.data().size();
        benchmark::DoNotOptimize(enc.data().data());
      }
    }
  }
  state.SetItemsProcessed(state.iterations() * total_events);
  state.SetBytesProcessed(state.iterations() * bytes);
}
BENCHMARK(BM_Format_Encode)->Unit(benchmark::kMillisecond);

// Floor for encode and decode: copying the encoded batches.
void BM_Format_Floor_Memcpy(benchmark::State& state) {
  const Generation& g = MixGeneration();
  std::string dst(1 << 24, '\0');
  size_t bytes = 0;
  for (auto _ : state) {
    size_t at = 0;
    for (const Batch& b : g.batches) {
      std::memcpy(dst.data() + at, b.events.data(), b.events.size());
      at += b.events.size();
    }
    bytes = at;
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * TotalEvents());
  state.SetBytesProcessed(state.iterations() * bytes);
}
BENCHMARK(BM_Format_Floor_Memcpy)->Unit(benchmark::kMillisecond);

// Floor for decode: sums every varint of the batches with no event structure (type bytes
// are < 0x80, so they parse as one-byte varints).
void BM_Format_Floor_VarintSum(benchmark::State& state) {
  const Generation& g = MixGeneration();
  for (auto _ : state) {
    uint64_t sum = 0;
    for (const Batch& b : g.batches) {
      const char* p = b.events.data();
      const char* end = p + b.events.size();
      while (p < end) {
        uint64_t v;
        p = format_internal::DecodeVarint(p, end, &v);
        if (p == nullptr) std::abort();
        sum += v;
      }
    }
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * TotalEvents());
}
BENCHMARK(BM_Format_Floor_VarintSum)->Unit(benchmark::kMillisecond);

// ---- Decode ----

void BM_Format_DecodeBatch(benchmark::State& state) {
  const Generation& g = MixGeneration();
  for (auto _ : state) {
    uint64_t sum = 0;
    for (size_t i = 0; i < g.batches.size(); ++i) {
      BatchEventReader r(g, i);
      Event e;
      while (r.Next(&e)) sum += e.tick + e.args[0];
      if (!r.status().ok()) std::abort();
    }
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * TotalEvents());
}
BENCHMARK(BM_Format_DecodeBatch)->Unit(benchmark::kMillisecond);

void BM_Format_DecodeMerged(benchmark::State& state) {
  const Generation& g = MixGeneration();
  for (auto _ : state) {
    MergedGenerationReader m(g);
    uint64_t sum = 0;
    while (const Event* e = m.Next()) sum += e->tick + e->args[0];
    if (!m.status().ok()) std::abort();
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * TotalEvents());
}
BENCHMARK(BM_Format_DecodeMerged)->Unit(benchmark::kMillisecond);

// The whole read of one generation: CRC, (lz4,) table parse and event validation.
void BM_Format_ReadGeneration(benchmark::State& state) {
  const std::string trace = EncodeGeneration(state.range(0) != 0);
  for (auto _ : state) benchmark::DoNotOptimize(ReadOne(trace).get());
  state.SetItemsProcessed(state.iterations() * TotalEvents());
  state.SetBytesProcessed(state.iterations() * trace.size());
  state.SetLabel(state.range(0) ? "lz4" : "raw");
}
BENCHMARK(BM_Format_ReadGeneration)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// ---- Size ----

// Bytes per event of the realistic mix: events only (batch bodies), the whole generation
// (tables, batch framing), and the whole generation after lz4. Times the lz4 build.
void BM_Format_SizeRealisticMix(benchmark::State& state) {
  size_t batch_bytes = 0;
  const std::string raw = EncodeGeneration(false, &batch_bytes);
  size_t lz4_size = 0;
  for (auto _ : state) lz4_size = EncodeGeneration(true).size();
  const double n = static_cast<double>(TotalEvents());
  state.counters["events_B_per_event"] = batch_bytes / n;
  state.counters["gen_B_per_event"] = raw.size() / n;
  state.counters["gen_lz4_B_per_event"] = lz4_size / n;
  state.SetItemsProcessed(state.iterations() * TotalEvents());
}
BENCHMARK(BM_Format_SizeRealisticMix)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
}  // namespace tracer::format

BENCHMARK_MAIN();
