// Region latencies: per region name, the count, latency quantiles and a text histogram, where
// the regions' time went, and the slowest instances with their own breakdown. What
// `tracetool regions` prints; Go's "user-defined regions" view for our traces.
//
// Where the time went: a region's time is its thread's states between its begin and its end
// (tools/analysis/thread_states.h), so a breakdown's parts add up to its duration exactly.
//
// Reading: one streaming pass. Memory: what is live (each thread's state and open regions, the
// blocked tasks, the open user tasks' names) and, per region name, a LatencyHistogram, the
// summed breakdown and the `top` slowest instances: independent of the trace's length.

#ifndef TRACER_TOOLS_ANALYSIS_REGIONS_H_
#define TRACER_TOOLS_ANALYSIS_REGIONS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "format/trace_reader.h"
#include "tools/analysis/histogram.h"
#include "tools/analysis/thread_states.h"

namespace tracer::analysis {

struct RegionInstance {
  int64_t begin_ns = 0;  // since the trace's first event
  int64_t duration_ns = 0;
  uint64_t thread = 0;
  uint64_t user_task = 0;       // the task it was attributed to (0: none)
  std::string user_task_name;   // its name, if its UserTaskBegin or a task table gave it
  TimeBreakdown breakdown;
};

struct RegionStats {
  std::string name;
  LatencyHistogram latency;  // complete instances
  TimeBreakdown breakdown;   // summed over them
  std::vector<RegionInstance> slowest;  // at most RegionsOptions::top, slowest first
  uint64_t incomplete = 0;   // begun, never ended in the trace
};

struct RegionsOptions {
  size_t top = 5;     // slowest instances kept per name
  std::string name;   // only this region name (empty: every name)
};

struct RegionsReport {
  std::vector<RegionStats> regions;  // by total time, largest first
  uint64_t ended_before_begin = 0;   // RegionEnds whose begin precedes the trace
  uint64_t events = 0;               // read
  uint64_t lost_events = 0;          // what loss records say was dropped: not seen here
};

// Reads every generation of `reader` once. On a corrupt or truncated trace returns the
// reader's error (offset, generation, batch).
absl::StatusOr<RegionsReport> ComputeRegions(format::TraceReader* reader,
                                             const RegionsOptions& options);

std::string FormatRegionsText(const RegionsReport& report);
std::string FormatRegionsJson(const RegionsReport& report);

}  // namespace tracer::analysis

#endif  // TRACER_TOOLS_ANALYSIS_REGIONS_H_
