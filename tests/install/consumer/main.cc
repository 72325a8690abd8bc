// Uses the installed tracer the way a user's program does: writes a one-generation trace with
// the format library, reads it back and checks what came out. Prints "consumer: ok" on success.
// As the tracer and recorder layers land, exercise them here too (the CMakeLists defines
// TRACER_CONSUMER_HAS_TRACER / TRACER_CONSUMER_HAS_RECORDER when the package has them).

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "format/event_stream.h"
#include "format/trace_reader.h"
#include "format/trace_writer.h"
#ifdef TRACER_CONSUMER_HAS_TRACER
#include "tracer/tracer.h"
#endif
#ifdef TRACER_CONSUMER_HAS_RECORDER
#include "recorder/flight_recorder.h"
#endif

namespace {

namespace tf = tracer::format;

constexpr uint64_t kThread = 4242;
constexpr uint64_t kThreadName = 1;
constexpr uint64_t kCategory = 2;
constexpr char kMessage[] = "hello from an installed tracer";

int Fail(const std::string& what) {
  std::fprintf(stderr, "consumer: FAILED: %s\n", what.c_str());
  return 1;
}

std::string WriteTrace() {
  std::string trace;
  tf::AppendFileHeader(&trace);

  tf::EventEncoder events(/*base_tick=*/1000);
  events.Append(tf::EventType::kThreadStart, 1000, {});
  events.Append(tf::EventType::kLog, 1500, {/*task=*/0, kCategory}, kMessage);
  events.Append(tf::EventType::kThreadStop, 2000, {});

  tf::GenerationBuilder gen(/*seq=*/0);
  gen.SetClock({.ticks_per_second = 1'000'000'000, .tick = 1000, .mono_ns = 1000,
                .real_ns = 1'700'000'000'000'000'000});
  gen.SetTimeSpan(1000, 2000);
  gen.AddString(kThreadName, "consumer-main");
  gen.AddString(kCategory, "install-test");
  gen.AddThread({.id = kThread, .name = kThreadName});
  gen.AddBatch(kThread, /*seq=*/0, events.base_tick(), events.num_events(), events.data());
  gen.AppendTo(&trace, /*compress=*/true);  // lz4 when smaller: links the package's lz4
  return trace;
}

}  // namespace

int main() {
  auto reader = tf::TraceReader::FromSource(tf::MakeStringSource(WriteTrace()));
  if (!reader.ok()) return Fail("open: " + std::string(reader.status().message()));

  tf::EventStream stream(reader->get());
  tf::Event e;
  int num_events = 0;
  bool saw_log = false;
  while (stream.Next(&e)) {
    ++num_events;
    if (e.type == tf::EventType::kLog) {
      saw_log = e.thread == kThread && e.tick == 1500 && e.bytes == kMessage &&
                stream.generation().String(e.args[1]) == "install-test";
    }
  }
  if (!stream.status().ok()) return Fail("read: " + std::string(stream.status().message()));
  if (num_events != 3) return Fail("read " + std::to_string(num_events) + " events, want 3");
  if (!saw_log) return Fail("the Log event did not round-trip");

#ifdef TRACER_CONSUMER_HAS_TRACER
  // Links the runtime (and through it libunwind, abseil's symbolizer, ...).
  if (tracer::IsTracing()) return Fail("tracing before anything started it");
  std::printf("consumer: linked tracer::tracer\n");
#endif
#ifdef TRACER_CONSUMER_HAS_RECORDER
  {
    tracer::FlightRecorder recorder(tracer::FlightRecorderConfig{});
    if (recorder.Enabled()) return Fail("a recorder enabled before Start()");
  }
  std::printf("consumer: linked tracer::recorder\n");
#endif
  std::printf("consumer: ok (%d events round-tripped)\n", num_events);
  return 0;
}
