// Reading back what a test traced.

#ifndef TRACER_TESTS_TRACER_TEST_UTIL_H_
#define TRACER_TESTS_TRACER_TEST_UTIL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "format/trace_reader.h"
#include "gtest/gtest.h"

namespace tracer::testing {

struct ReadBack {
  std::vector<std::shared_ptr<const format::Generation>> generations;
  // Every event with its generation index, merged in time order per generation.
  std::vector<std::pair<format::Event, size_t>> events;
  uint64_t lost = 0;
};

inline absl::StatusOr<ReadBack> ReadTrace(std::string bytes) {
  auto reader = format::TraceReader::FromSource(format::MakeStringSource(std::move(bytes)));
  if (!reader.ok()) return reader.status();
  ReadBack out;
  for (;;) {
    auto g = (*reader)->Next();
    if (!g.ok()) return g.status();
    if (*g == nullptr) break;
    out.generations.push_back(*g);
    for (const auto& l : (*g)->losses) out.lost += l.count;
    format::MergedGenerationReader m(**g);
    format::Event e;
    while (m.Next(&e)) out.events.push_back({e, out.generations.size() - 1});
    if (!m.status().ok()) return m.status();
  }
  return out;
}

}  // namespace tracer::testing

#endif  // TRACER_TESTS_TRACER_TEST_UTIL_H_
