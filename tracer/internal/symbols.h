// The collector's cache of symbolized program counters. Collector thread only.

#ifndef TRACER_TRACER_INTERNAL_SYMBOLS_H_
#define TRACER_TRACER_INTERNAL_SYMBOLS_H_

#include <cstddef>
#include <cstdint>

#include "absl/container/flat_hash_map.h"
#include "format/generation.h"
#include "tracer/internal/mappings.h"

namespace tracer::tracer_internal {

class SymbolCache {
 public:
  // The frame of return address `pc`: its function's name interned (0 if unknown). After an
  // object was unloaded (DropIfLoaderChanged saw dlpi_subs > 0), exported symbols are named
  // by dladdr first: absl::Symbolize caches per pc and may name an unloaded object's code.
  const format::Frame& Symbolize(uintptr_t pc);
  // Forgets every cached frame if objects were loaded or unloaded since the cache was filled
  // (`counts`: ReadLoaderCounts() just taken): a pc in an unloaded object may now be in
  // another. Unknown counts (a loader that does not say) keep the cache.
  void DropIfLoaderChanged(const LoaderCounts& counts);
  // Forgets every cached frame.
  void Clear() { symbols_.clear(); }
  size_t size() const { return symbols_.size(); }

 private:
  absl::flat_hash_map<uintptr_t, format::Frame> symbols_;  // pc -> symbolized frame
  LoaderCounts counts_;  // when symbols_ was filled
};

}  // namespace tracer::tracer_internal

#endif  // TRACER_TRACER_INTERNAL_SYMBOLS_H_
