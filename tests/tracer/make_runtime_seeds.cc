// Writes the runtime-made fuzz seeds: a StartTrace capture (3 threads, 2 ms generations) and a
// compressed flight-recorder dump. Usage: make_runtime_seeds CAPTURE DUMP
//   build/tests/tracer/make_runtime_seeds tests/fuzz/corpus/valid_runtime_capture
//   tests/fuzz/corpus/valid_recorder_dump  (both on one command line)
#include <thread>
#include <vector>
#include "recorder/flight_recorder.h"
#include "tracer/hooks.h"
#include "tracer/tracer.h"
int main(int argc, char** argv) {
  static const tracer::Name kJob("job"), kRead("read"), kGc("gc"), kDepth("depth");
  auto work = [](int n) {
    for (int i = 0; i < n; ++i) {
      tracer::TaskRef t;
      tracer::hooks::TaskCreate(t, kJob);
      tracer::hooks::TaskStart(t);
      tracer::Task u = tracer::NewTask("request");
      { tracer::Region r = tracer::StartRegion(u, "decode"); tracer::Log(u, "cache", "miss"); }
      { tracer::hooks::ScopedSyscall s(kRead); }
      tracer::hooks::TaskBlock(t, tracer::BlockReason::kMutex, &t);
      tracer::hooks::TaskUnblock(t, &t);
      tracer::hooks::TaskStart(t);
      tracer::hooks::Counter(kDepth, i);
      tracer::hooks::TaskEnd(t);
    }
  };
  tracer::TraceOptions o; o.generation_period = absl::Milliseconds(2); o.compress = argc > 3;
  if (argc < 3 || !tracer::StartTrace(argv[1], o).ok()) return 1;
  tracer::hooks::PhaseBegin(kGc, true); tracer::hooks::PhaseEnd(kGc);
  std::vector<std::thread> ts; for (int k = 0; k < 3; ++k) ts.emplace_back(work, 20);
  for (auto& t : ts) t.join();
  if (!tracer::StopTrace().ok()) return 2;
  tracer::FlightRecorder fr({.min_age = absl::Milliseconds(50), .max_bytes = 1 << 20, .compress = true});
  if (!fr.Start().ok()) return 3;
  std::thread t(work, 30); t.join();
  if (!fr.WriteTo(std::string(argv[2])).ok()) return 4;
  return fr.Stop().ok() ? 0 : 5;
}
