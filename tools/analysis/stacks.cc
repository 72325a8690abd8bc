#include "tools/analysis/stacks.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tracer::analysis {

ResolvedFrame ResolveFrame(const format::Generation& gen, const format::Frame& frame,
                           Symbolizer* symbolizer) {
  ResolvedFrame out;
  out.pc = frame.pc;
  FrameLine own{std::string(gen.String(frame.func)), std::string(gen.String(frame.file)),
                static_cast<int>(frame.line)};
  if (!own.file.empty() && own.line != 0) {
    out.lines.push_back(std::move(own));
    return out;
  }
  if (symbolizer == nullptr) {
    out.lines.push_back(std::move(own));
    out.why_not = "not asked";
    return out;
  }
  const Symbolizer::Symbol& sym = symbolizer->Lookup(gen, frame.pc);
  if (!sym.found) {
    if (own.function.empty()) own.function = sym.function;
    out.lines.push_back(std::move(own));
    out.why_not = sym.why_not;
    return out;
  }
  out.lines.push_back({sym.function.empty() ? own.function : sym.function, sym.file, sym.line});
  for (const Symbolizer::InlinedCall& call : sym.inlined_into) {
    out.lines.push_back({call.function, call.file, call.line});
  }
  return out;
}

std::string FrameLineText(const FrameLine& line, uint64_t pc) {
  if (line.function.empty()) return absl::StrFormat("%#x", pc);
  if (line.file.empty()) return line.function;
  if (line.line == 0) return absl::StrCat(line.function, " (", line.file, ")");
  return absl::StrCat(line.function, " (", line.file, ":", line.line, ")");
}

std::vector<std::string> StackText(const format::Generation& gen, uint64_t id,
                                   Symbolizer* symbolizer) {
  std::vector<std::string> out;
  if (id == 0) return out;
  const format::Stack* stack = gen.FindStack(id);
  if (stack == nullptr) return out;
  out.reserve(stack->frames.size());
  for (const format::Frame& f : stack->frames) {
    const ResolvedFrame r = ResolveFrame(gen, f, symbolizer);
    for (size_t i = 0; i < r.lines.size(); ++i) {
      std::string text = FrameLineText(r.lines[i], r.pc);
      if (i + 1 < r.lines.size()) text += " [inlined]";
      out.push_back(std::move(text));
    }
  }
  return out;
}

}  // namespace tracer::analysis
