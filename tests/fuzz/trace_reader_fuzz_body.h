// The body of the trace reader fuzzer, shared by the libFuzzer target and by the corpus
// regression test (tests/format/fuzz_corpus_test.cc), which must not need libFuzzer.
//
// It drives every decoding entry point a tool uses on untrusted bytes: TraceReader (with and
// without event validation), BatchEventReader, MergedGenerationReader via EventStream, the
// table look-ups and both event printers. Any crash, sanitizer report or hang is a bug in
// format/.

#ifndef TRACER_TESTS_FUZZ_TRACE_READER_FUZZ_BODY_H_
#define TRACER_TESTS_FUZZ_TRACE_READER_FUZZ_BODY_H_

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "format/event_printer.h"
#include "format/event_stream.h"
#include "format/generation.h"
#include "format/trace_reader.h"

namespace tracer::format::fuzzing {

// What one run saw; the corpus test checks it against expectations.
struct FuzzRunSummary {
  bool opened = false;
  size_t generations = 0;
  size_t events = 0;
  bool ok = false;  // the whole input read without error
  std::string error;
};

inline FuzzRunSummary RunTraceReaderFuzzBody(const uint8_t* data, size_t size) {
  FuzzRunSummary sum;
  const std::string bytes(reinterpret_cast<const char*>(data), size);

  // Pass 1: the time-ordered stream, printed as text and JSON.
  auto reader = TraceReader::FromSource(MakeStringSource(bytes));
  if (!reader.ok()) {
    sum.error = std::string(reader.status().message());
    return sum;
  }
  sum.opened = true;
  std::string out;
  EventStream stream(reader->get());
  Event e;
  const Generation* last = nullptr;
  while (stream.Next(&e)) {
    const Generation& g = stream.generation();
    if (&g != last) {
      last = &g;
      ++sum.generations;
      for (const ThreadInfo& t : g.threads) absl::StrAppend(&out, g.ThreadName(t.id));
      for (const Stack& st : g.stacks) {
        for (const Frame& f : st.frames) absl::StrAppend(&out, g.String(f.func));
      }
    }
    AppendEventText(g, e, &out);
    AppendEventJson(g, e, &out);
    const EventSpec& spec = e.spec();
    for (int i = 0; i < spec.num_args; ++i) {
      if (spec.args[i].kind == ArgKind::kStack && e.args[i] != 0 &&
          g.FindStack(e.args[i]) == nullptr) {
        std::abort();  // validated ids must resolve
      }
      if (spec.args[i].kind == ArgKind::kLabelSet && e.args[i] != 0 &&
          g.FindLabelSet(e.args[i]) == nullptr) {
        std::abort();
      }
    }
    if (out.size() > (1 << 16)) out.clear();
    ++sum.events;
  }
  sum.ok = stream.status().ok();
  if (!sum.ok) sum.error = std::string(stream.status().message());

  // Pass 2: no event validation in Next(); each batch decoded on its own must still fail
  // cleanly, never read out of bounds.
  auto lax = TraceReader::FromSource(MakeStringSource(bytes));
  if (!lax.ok()) std::abort();  // the same bytes opened a moment ago
  (*lax)->set_validate_events(false);
  for (;;) {
    auto g = (*lax)->Next();
    if (!g.ok() || *g == nullptr) break;
    for (size_t b = 0; b < (*g)->batches.size(); ++b) {
      BatchEventReader r(**g, b);
      uint64_t last_tick = (*g)->batches[b].base_tick;
      while (r.Next(&e)) {
        if (e.tick < last_tick) std::abort();  // ticks within a batch never go back
        last_tick = e.tick;
      }
    }
  }
  return sum;
}

}  // namespace tracer::format::fuzzing

#endif  // TRACER_TESTS_FUZZ_TRACE_READER_FUZZ_BODY_H_
