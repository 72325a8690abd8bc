// Stacks as text: each frame as "function (file:line)" from the trace's stack table, or its PC
// when the trace carries no symbol for it.

#ifndef TRACER_TOOLS_ANALYSIS_STACKS_H_
#define TRACER_TOOLS_ANALYSIS_STACKS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "format/generation.h"

namespace tracer::analysis {

// "Cache::Get (cache.cc:42)", "Cache::Get", or "0x55d0c0ffee" for an unsymbolized frame.
std::string FrameText(const format::Generation& gen, const format::Frame& frame);
// The frames of stack `id`, innermost first; empty for 0 or an unknown id.
std::vector<std::string> StackText(const format::Generation& gen, uint64_t id);

}  // namespace tracer::analysis

#endif  // TRACER_TOOLS_ANALYSIS_STACKS_H_
