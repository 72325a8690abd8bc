#include "tracer/internal/symbols.h"

#include <cxxabi.h>
#include <dlfcn.h>

#include <cstdlib>

#include "absl/debugging/symbolize.h"
#include "tracer/internal/ids.h"

namespace tracer::tracer_internal {
namespace {

// The loader's name for the dynamic symbol holding `addr` (demangled), interned; 0 if none.
uint64_t DladdrName(void* addr) {
  Dl_info info;
  if (dladdr(addr, &info) == 0 || info.dli_sname == nullptr) return 0;
  int status = 0;
  char* demangled = abi::__cxa_demangle(info.dli_sname, nullptr, nullptr, &status);
  const uint64_t id = Strings().Intern(status == 0 && demangled != nullptr ? demangled
                                                                           : info.dli_sname);
  std::free(demangled);
  return id;
}

}  // namespace

void SymbolCache::DropIfLoaderChanged(const LoaderCounts& counts) {
  if (!counts.known || counts == counts_) return;
  symbols_.clear();
  counts_ = counts;
}

const format::Frame& SymbolCache::Symbolize(uintptr_t pc) {
  auto it = symbols_.find(pc);
  if (it != symbols_.end()) return it->second;
  format::Frame f;
  f.pc = pc;
  char buf[1024];
  // pc is a return address: look up pc-1 so a call at the end of a function names it.
  void* const addr = reinterpret_cast<void*>(pc - 1);
  // absl::Symbolize keeps its own per-pc cache for the life of the process, so once an object
  // was unloaded it may name what used to be at pc: the loader's answer, always current, comes
  // first then (it knows only exported symbols; absl still names the others).
  if (counts_.subs != 0 && (f.func = DladdrName(addr)) != 0) {
  } else if (absl::Symbolize(addr, buf, sizeof(buf))) {
    f.func = Strings().Intern(buf);
  } else {
    f.func = DladdrName(addr);
  }
  return symbols_.emplace(pc, f).first->second;
}

}  // namespace tracer::tracer_internal
