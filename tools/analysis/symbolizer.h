// File and line for a trace's PCs from DWARF (libdw). The in-process symbolizer records
// function names only (absl::Symbolize, dladdr), and a crash dump records raw PCs; with the
// binary at hand, this finds each PC's object through the generation's mappings table (path,
// build id), and from its DWARF the function, file and line, or says why it could not.
//
// Finding the object of a mapping, first that exists and is a regular file: the mapping's path;
// a file of the same basename in each of Options::search_dirs; `DIR/.build-id/xx/yyyy.debug`
// (a separate debug file, enough on its own) for DIR in search_dirs, then /usr/lib/debug. A
// candidate whose NT_GNU_BUILD_ID differs from the mapping's is skipped, and if no candidate
// matches the PC is "build id differs" (another build would give wrong lines); a mapping with no
// build id takes the first candidate unchecked. The debug info of a stripped object is looked
// up by build id in the same .build-id directories, never on a debuginfod server (elfutils'
// dwfl_standard_find_debuginfo would query DEBUGINFOD_URLS: a network fetch per object).
//
// Addresses. The recorder writes each object's executable segment (tracer/internal/
// mappings.cc): `start` = load bias + p_vaddr of its first executable PT_LOAD, `offset` = the
// p_offset of its last one. So the bias is start - that p_vaddr, and a PC's ELF address is
// pc - bias, for PIE executables, shared libraries and (bias 0) fixed-address executables. A
// mapping whose `offset` is not that (a /proc/PID/maps line: `start` is where file offset
// `offset` is mapped) is read that way, through the PT_LOAD that holds the offset.
//
// Frames. A frame's pc is a return address: the call's function and line are looked up at
// pc - 1. Inlined code gives the innermost function at the PC, with its own file and line; the
// functions it was inlined into, each with its call site, are in Symbol::inlined_into (outward)
// for a caller that expands them into frames of their own. Function names are demangled.
//
// Untrusted input: PCs, mappings, paths and files are whatever the trace and the disk hold. A
// garbage PC or a corrupt file gives found = false with a reason, never a crash; paths from the
// trace are only opened, and a build id is used in a path only if it is hex.
//
// Not thread-safe. Memory: one libdw session (the mapped file and its DWARF, read lazily) per
// distinct object file, and one Symbol per distinct PC looked up; nothing per call.

#ifndef TRACER_TOOLS_ANALYSIS_SYMBOLIZER_H_
#define TRACER_TOOLS_ANALYSIS_SYMBOLIZER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "format/generation.h"

namespace tracer::analysis {

class Symbolizer {
 public:
  struct Options {
    std::vector<std::string> search_dirs;  // more places for binaries (by basename), .build-id
    bool enabled = true;                   // false: every Lookup is "disabled", no file is opened
  };

  // A function its caller inlined, seen from the caller: where the call is.
  struct InlinedCall {
    std::string function;  // the caller
    std::string file;      // of the call site; empty if unknown
    int line = 0;          // 0 if unknown
  };

  struct Symbol {
    std::string function;  // demangled; may be set without file and line (from the symbol table)
    std::string file;
    int line = 0;
    bool found = false;  // file and line known
    // When !found: "disabled", "no mapping", "binary not found", "build id differs",
    // "unreadable ELF", "no executable segment", "no DWARF", "no line info".
    std::string why_not;
    std::vector<InlinedCall> inlined_into;  // innermost caller first; empty if not inlined
  };

  // Distinct PCs looked up, as a summary line counts them.
  struct Stats {
    uint64_t symbolized = 0;                                       // found
    std::vector<std::pair<std::string, uint64_t>> not_symbolized;  // by why_not, most first
  };

  explicit Symbolizer(Options options);
  ~Symbolizer();
  // A moved-from Symbolizer may only be destroyed or assigned to.
  Symbolizer(Symbolizer&&) noexcept;
  Symbolizer& operator=(Symbolizer&&) noexcept;

  // Symbolizes `pc` (a return address) with the mappings of `gen`. The first look-up of an
  // object opens it; a PC looked up again (in any generation that maps the same object file)
  // is answered from the cache. The reference stays valid until the Symbolizer is destroyed.
  const Symbol& Lookup(const format::Generation& gen, uint64_t pc);

  Stats stats() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace tracer::analysis

#endif  // TRACER_TOOLS_ANALYSIS_SYMBOLIZER_H_
