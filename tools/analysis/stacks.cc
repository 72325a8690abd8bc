#include "tools/analysis/stacks.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tracer::analysis {

std::string FrameText(const format::Generation& gen, const format::Frame& frame) {
  const absl::string_view func = gen.String(frame.func);
  if (func.empty()) return absl::StrFormat("%#x", frame.pc);
  const absl::string_view file = gen.String(frame.file);
  if (file.empty()) return std::string(func);
  if (frame.line == 0) return absl::StrCat(func, " (", file, ")");
  return absl::StrCat(func, " (", file, ":", frame.line, ")");
}

std::vector<std::string> StackText(const format::Generation& gen, uint64_t id) {
  std::vector<std::string> out;
  if (id == 0) return out;
  const format::Stack* stack = gen.FindStack(id);
  if (stack == nullptr) return out;
  out.reserve(stack->frames.size());
  for (const format::Frame& f : stack->frames) out.push_back(FrameText(gen, f));
  return out;
}

}  // namespace tracer::analysis
