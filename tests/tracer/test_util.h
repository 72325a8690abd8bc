// Reading back what a test traced.

#ifndef TRACER_TESTS_TRACER_TEST_UTIL_H_
#define TRACER_TESTS_TRACER_TEST_UTIL_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "format/trace_reader.h"
#include "gtest/gtest.h"
#include "tracer/sink.h"

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

// Blocks in its first Write until released, so a test can act while a dump is in progress.
// Written to from one thread at a time (the dumping one); flushed() may be read from any.
class GatedSink : public Sink {
 public:
  absl::Status Write(absl::string_view d) override {
    if (!entered_.HasBeenNotified()) {
      entered_.Notify();
      release_.WaitForNotification();
    }
    data_.append(d.data(), d.size());
    return absl::OkStatus();
  }
  absl::Status Flush() override {  // the dump's last call
    flushed_.store(true, std::memory_order_release);
    return absl::OkStatus();
  }
  void WaitUntilEntered() { entered_.WaitForNotification(); }
  void Release() { release_.Notify(); }
  bool flushed() const { return flushed_.load(std::memory_order_acquire); }
  const std::string& data() const { return data_; }  // once the dump is over

 private:
  absl::Notification entered_, release_;
  std::atomic<bool> flushed_{false};
  std::string data_;
};

}  // namespace tracer::testing

#endif  // TRACER_TESTS_TRACER_TEST_UTIL_H_
