// Two profiles of the same kind compared per call site (FlatProfile's innermost function
// outside the tracer): the change in count and in total delay, absolute and in percent, largest
// change first. A before/after check of a fix from two traces (`tracetool diff`); `go tool
// pprof -base` does the same for two profile files, per stack.

#ifndef TRACER_TOOLS_ANALYSIS_PROFILE_DIFF_H_
#define TRACER_TOOLS_ANALYSIS_PROFILE_DIFF_H_

#include <cstdint>
#include <string>
#include <vector>

#include "tools/analysis/pprof.h"

namespace tracer::analysis {

struct DiffEntry {
  std::string function;
  int64_t before_count = 0, after_count = 0;
  int64_t before_value = 0, after_value = 0;  // delay (cpu: CPU time), ns
  int64_t delta() const { return after_value - before_value; }
  // The change as a percentage of before; +inf (printed "new") when before is 0.
  double delta_percent() const;
};

struct ProfileDiff {
  std::string kind;
  int64_t before_total = 0, after_total = 0;
  uint64_t before_intervals = 0, after_intervals = 0;
  std::vector<DiffEntry> entries;  // by |delta|, largest first
};

ProfileDiff DiffProfiles(const ProfileResult& before, const ProfileResult& after,
                         ProfileKind kind);

std::string FormatProfileDiffText(const ProfileDiff& diff, size_t top);
std::string FormatProfileDiffJson(const ProfileDiff& diff, size_t top);

}  // namespace tracer::analysis

#endif  // TRACER_TOOLS_ANALYSIS_PROFILE_DIFF_H_
