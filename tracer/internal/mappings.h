// The loaded objects (executable and shared libraries) listed in every generation, with their
// build ids. Collector thread only.

#ifndef TRACER_TRACER_INTERNAL_MAPPINGS_H_
#define TRACER_TRACER_INTERNAL_MAPPINGS_H_

#include <vector>

#include "format/generation.h"

namespace tracer::tracer_internal {

// glibc's counts of objects loaded and unloaded so far (the same in every dl_phdr_info).
struct LoaderCounts {
  bool known = false;
  unsigned long long adds = 0, subs = 0;
  bool operator==(const LoaderCounts&) const = default;
};
LoaderCounts ReadLoaderCounts();

// Every loaded object's executable segment, path and build id (ids interned).
std::vector<format::Mapping> ReadMappings();

// The mappings, walked again only when the loader's counts of objects added and removed
// changed since the last walk (walking reads every object's build-id note).
class MappingCache {
 public:
  // The current mappings. `counts` must be ReadLoaderCounts() just taken.
  const std::vector<format::Mapping>& Get(const LoaderCounts& counts);

 private:
  std::vector<format::Mapping> mappings_;  // ids interned; valid while counts_ holds
  LoaderCounts counts_;
};

}  // namespace tracer::tracer_internal

#endif  // TRACER_TRACER_INTERNAL_MAPPINGS_H_
