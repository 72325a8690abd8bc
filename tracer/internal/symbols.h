// The collector's cache of symbolized program counters. Collector thread only.

#ifndef TRACER_TRACER_INTERNAL_SYMBOLS_H_
#define TRACER_TRACER_INTERNAL_SYMBOLS_H_

#include <cstddef>
#include <cstdint>

#include "absl/container/flat_hash_map.h"
#include "format/generation.h"

namespace tracer::tracer_internal {

class SymbolCache {
 public:
  // The frame of return address `pc`: its function's name interned (0 if unknown).
  const format::Frame& Symbolize(uintptr_t pc);
  // Forgets every cached frame.
  void Clear() { symbols_.clear(); }
  size_t size() const { return symbols_.size(); }

 private:
  absl::flat_hash_map<uintptr_t, format::Frame> symbols_;  // pc -> symbolized frame
};

}  // namespace tracer::tracer_internal

#endif  // TRACER_TRACER_INTERNAL_SYMBOLS_H_
