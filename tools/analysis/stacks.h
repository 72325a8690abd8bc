// Stacks as text and as resolved frames. The trace's stack table names each frame's function
// as the process's own symbolizer could (function only, or nothing for a raw PC); given a
// Symbolizer (DWARF, through the generation's mappings), a frame also gets its file and line,
// and the functions inlined at its PC become frames of their own.
//
// Precedence for one frame: the trace's file and line when it has them; else the Symbolizer's
// when it finds them (its function too: DWARF names the inlined callee the symbol table
// cannot); else the trace's function, or the symbol table's, or the bare PC, with the reason
// file and line are missing.

#ifndef TRACER_TOOLS_ANALYSIS_STACKS_H_
#define TRACER_TOOLS_ANALYSIS_STACKS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "format/generation.h"
#include "tools/analysis/symbolizer.h"

namespace tracer::analysis {

// One function of a resolved frame.
struct FrameLine {
  std::string function;  // empty: nothing names the PC
  std::string file;      // empty if unknown
  int line = 0;          // 0 if unknown
};

struct ResolvedFrame {
  uint64_t pc = 0;
  // Innermost first: the functions inlined at the PC, then the one it was inlined into; the
  // last is the frame's real function. Never empty (an unnamed PC has one line, no function).
  std::vector<FrameLine> lines;
  // Why there is no file and line ("no DWARF", "binary not found", ...), empty when there are;
  // "not asked" when no Symbolizer was given and the trace has none.
  std::string why_not;
};

// `symbolizer` may be null: the trace's names only.
ResolvedFrame ResolveFrame(const format::Generation& gen, const format::Frame& frame,
                           Symbolizer* symbolizer);

// "Cache::Get (cache.cc:42)", "Cache::Get", or "0x55d0c0ffee" for a line nothing names.
std::string FrameLineText(const FrameLine& line, uint64_t pc);

// The frames of stack `id`, innermost first, one string per function (an inlined function is
// "Cache::Lookup (cache.h:17) [inlined]" before its caller); empty for 0 or an unknown id.
std::vector<std::string> StackText(const format::Generation& gen, uint64_t id,
                                   Symbolizer* symbolizer = nullptr);

}  // namespace tracer::analysis

#endif  // TRACER_TOOLS_ANALYSIS_STACKS_H_
