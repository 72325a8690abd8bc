// The request report (request_report.h) as text, what tracer-demo prints after a slow request.

#ifndef TRACER_TOOLS_ANALYSIS_REQUEST_REPORT_TEXT_H_
#define TRACER_TOOLS_ANALYSIS_REQUEST_REPORT_TEXT_H_

#include <string>

#include "tools/analysis/request_report.h"

namespace tracer::analysis {

// The report for a reader new to the trace, several lines each ending in '\n': per-type count
// and latency, the explained request's timeline in time order (offsets in ms from its begin),
// the top blocking sites and the mutex view. Stacks are shown as SiteFrames' first four.
std::string FormatRequestReport(const RequestReport& report);

}  // namespace tracer::analysis

#endif  // TRACER_TOOLS_ANALYSIS_REQUEST_REPORT_TEXT_H_
