#include "tracer/internal/symbols.h"

#include <dlfcn.h>

#include "absl/debugging/symbolize.h"
#include "tracer/internal/ids.h"

namespace tracer::tracer_internal {

const format::Frame& SymbolCache::Symbolize(uintptr_t pc) {
  auto it = symbols_.find(pc);
  if (it != symbols_.end()) return it->second;
  format::Frame f;
  f.pc = pc;
  char buf[1024];
  // pc is a return address: look up pc-1 so a call at the end of a function names it.
  if (absl::Symbolize(reinterpret_cast<void*>(pc - 1), buf, sizeof(buf))) {
    f.func = Strings().Intern(buf);
  } else {
    Dl_info info;
    if (dladdr(reinterpret_cast<void*>(pc - 1), &info) != 0 && info.dli_sname != nullptr) {
      f.func = Strings().Intern(info.dli_sname);
    }
  }
  return symbols_.emplace(pc, f).first->second;
}

}  // namespace tracer::tracer_internal
