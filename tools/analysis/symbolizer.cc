#include "tools/analysis/symbolizer.h"

#include <cxxabi.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace tracer::analysis {
namespace {

constexpr char kSystemDebugDir[] = "/usr/lib/debug";
// Longer linkage names are shown mangled: the demangler's work grows with its input.
constexpr size_t kMaxDemangledInput = 16 << 10;
// Bounds of the walk down a CU's DIE tree (a corrupt one can nest or chain without end).
constexpr size_t kMaxScopeDepth = 256;
constexpr size_t kMaxSiblings = size_t{1} << 22;

using Symbol = Symbolizer::Symbol;

std::string Demangle(const char* name) {
  if (name[0] == '_' && name[1] == 'Z' && std::strlen(name) <= kMaxDemangledInput) {
    int status = 0;
    char* demangled = abi::__cxa_demangle(name, nullptr, nullptr, &status);
    if (status == 0 && demangled != nullptr) {
      std::string out(demangled);
      std::free(demangled);
      return out;
    }
    std::free(demangled);
  }
  return name;
}

bool IsRegularFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool IsHex(absl::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char c) { return absl::ascii_isxdigit(c); });
}

// The last component of `path`; empty for "", ".", ".." or a path ending in '/'.
absl::string_view Basename(absl::string_view path) {
  const size_t slash = path.rfind('/');
  const absl::string_view base = slash == absl::string_view::npos ? path : path.substr(slash + 1);
  return base == "." || base == ".." ? absl::string_view() : base;
}

std::string JoinPath(absl::string_view dir, absl::string_view name) {
  if (absl::EndsWith(dir, "/")) return absl::StrCat(dir, name);
  return absl::StrCat(dir, "/", name);
}

std::string ModuleBuildId(Dwfl_Module* module) {
  const unsigned char* bits = nullptr;
  GElf_Addr vaddr = 0;
  const int n = dwfl_module_build_id(module, &bits, &vaddr);
  std::string hex;
  static const char kHex[] = "0123456789abcdef";
  for (int i = 0; i < n; ++i) {
    hex.push_back(kHex[bits[i] >> 4]);
    hex.push_back(kHex[bits[i] & 15]);
  }
  return hex;
}

// Modules are reported with their file (dwfl_report_elf): libdwfl never has to find one.
int NoElf(Dwfl_Module*, void**, const char*, Dwarf_Addr, char**, Elf**) { return -1; }

// A function's name from its DIE: the demangled linkage name, else DW_AT_name (C, main),
// following DW_AT_abstract_origin and DW_AT_specification (inlined instances, methods).
std::string DieFunctionName(Dwarf_Die* die) {
  Dwarf_Attribute attr;
  const char* linkage = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attr));
  if (linkage == nullptr) {
    linkage = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr));
  }
  if (linkage != nullptr) return Demangle(linkage);
  const char* name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &attr));
  return name != nullptr ? name : "";
}

int ClampLine(Dwarf_Word line) {
  return line > static_cast<Dwarf_Word>(std::numeric_limits<int>::max()) ? 0
                                                                         : static_cast<int>(line);
}

// Whether a DIE of this tag can have an address range (most of a C++ CU's DIEs are types and
// declarations: reading their attributes for one is the bulk of a look-up's time).
bool MayHoldCode(int tag) {
  switch (tag) {
    case DW_TAG_subprogram:
    case DW_TAG_inlined_subroutine:
    case DW_TAG_lexical_block:
    case DW_TAG_try_block:
    case DW_TAG_catch_block:
    case DW_TAG_with_stmt:
    case DW_TAG_entry_point:
    case DW_TAG_module:
      return true;
    default:
      return false;
  }
}

// The DIEs of `cu` whose ranges hold `dwarf_pc`, outermost first: the subprogram, the
// lexical blocks and inlined instances inside it. Only the children that hold the PC are
// entered, as dwarf_getscopes does; not dwarf_getscopes itself, which for an inlined PC walks
// the whole CU again for the abstract origin's scopes (and dwarf_getscopes_die for the
// instance's parents): milliseconds per PC in a CU of some thousand DIEs.
std::vector<Dwarf_Die> ScopesAt(Dwarf_Die* cu, Dwarf_Addr dwarf_pc) {
  std::vector<Dwarf_Die> chain;
  Dwarf_Die parent = *cu;
  while (chain.size() < kMaxScopeDepth) {
    Dwarf_Die child;
    if (dwarf_child(&parent, &child) != 0) break;
    bool entered = false;
    for (size_t siblings = 0; siblings < kMaxSiblings; ++siblings) {
      if (MayHoldCode(dwarf_tag(&child)) && dwarf_haspc(&child, dwarf_pc) > 0) {
        chain.push_back(child);
        parent = child;
        entered = true;
        break;
      }
      if (dwarf_siblingof(&child, &child) != 0) break;
    }
    if (!entered) break;
  }
  return chain;
}

// The innermost function at `dwarf_pc` of `cu` into sym->function (if DWARF names it), and
// the functions it was inlined into, each with its call site.
void AddScopes(Dwarf_Die* cu, Dwarf_Addr dwarf_pc, Symbol* sym) {
  std::vector<Dwarf_Die> scopes = ScopesAt(cu, dwarf_pc);
  std::vector<Dwarf_Die*> functions;  // innermost first, up to the out-of-line subprogram
  for (auto it = scopes.rbegin(); it != scopes.rend(); ++it) {
    const int tag = dwarf_tag(&*it);
    if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram) continue;
    functions.push_back(&*it);
    if (tag == DW_TAG_subprogram) break;
  }
  if (functions.empty()) return;
  std::string name = DieFunctionName(functions[0]);
  if (!name.empty()) sym->function = std::move(name);
  if (functions.size() == 1) return;
  Dwarf_Files* files = nullptr;
  size_t num_files = 0;
  const bool have_files = dwarf_getsrcfiles(cu, &files, &num_files) == 0;
  for (size_t i = 0; i + 1 < functions.size(); ++i) {
    Symbolizer::InlinedCall call;
    call.function = DieFunctionName(functions[i + 1]);
    Dwarf_Attribute attr;
    Dwarf_Word value = 0;
    if (have_files &&
        dwarf_formudata(dwarf_attr(functions[i], DW_AT_call_file, &attr), &value) == 0 &&
        value < num_files) {
      const char* file = dwarf_filesrc(files, value, nullptr, nullptr);
      if (file != nullptr) call.file = file;
    }
    if (dwarf_formudata(dwarf_attr(functions[i], DW_AT_call_line, &attr), &value) == 0) {
      call.line = ClampLine(value);
    }
    sym->inlined_into.push_back(std::move(call));
  }
}

struct Segment {
  uint64_t vaddr = 0;
  uint64_t offset = 0;
  uint64_t filesz = 0;
  bool exec = false;
};

// One object file: its libdw session (or why it has none) and the symbols of its PCs.
struct ObjectFile {
  ObjectFile() = default;
  ObjectFile(const ObjectFile&) = delete;
  ObjectFile& operator=(const ObjectFile&) = delete;
  ~ObjectFile() {
    if (dwfl != nullptr) dwfl_end(dwfl);
  }

  Dwfl* dwfl = nullptr;           // owned; null if why_not is set
  Dwfl_Module* module = nullptr;  // of dwfl
  Dwarf_Addr module_bias = 0;     // libdwfl's address = ELF address + module_bias
  std::vector<Segment> loads;     // PT_LOAD program headers, in file order
  std::string why_not;            // non-empty: unusable, every PC of it gets this reason
  std::unordered_map<uint64_t, Symbol> symbols;  // by the PC's ELF address
};

// The ELF address of a PC is pc - bias; see the header for the two readings of a mapping.
uint64_t LoadBias(const std::vector<Segment>& loads, uint64_t start, uint64_t offset) {
  const Segment* last_exec = nullptr;
  uint64_t first_exec_vaddr = std::numeric_limits<uint64_t>::max();
  for (const Segment& s : loads) {
    if (!s.exec) continue;
    last_exec = &s;
    first_exec_vaddr = std::min(first_exec_vaddr, s.vaddr);
  }
  if (last_exec == nullptr) return 0;  // the object is refused: "no executable segment"
  if (offset == last_exec->offset) return start - first_exec_vaddr;  // the recorder's
  for (const Segment& s : loads) {
    if (offset >= s.offset && offset - s.offset < s.filesz) {
      return start - (s.vaddr + (offset - s.offset));  // start is where `offset` is mapped
    }
  }
  return start - first_exec_vaddr;
}

// Symbolizes the PC at ELF address `elf_pc` of a usable object.
void SymbolizeInObject(const ObjectFile& object, uint64_t elf_pc, Symbol* sym) {
  // pc is a return address: pc - 1 is in the call instruction, and in the caller's function
  // even when the call is the last instruction of a noreturn path.
  const Dwarf_Addr addr = elf_pc - 1 + object.module_bias;
  Dwarf_Addr dwarf_bias = 0;
  Dwarf_Die* cu = dwfl_module_addrdie(object.module, addr, &dwarf_bias);
  if (cu != nullptr) AddScopes(cu, addr - dwarf_bias, sym);
  if (sym->function.empty()) {  // no DWARF here: the symbol table (a linear search in libdwfl)
    GElf_Off symbol_offset = 0;
    GElf_Sym elf_sym;
    const char* name = dwfl_module_addrinfo(object.module, addr, &symbol_offset, &elf_sym, nullptr,
                                            nullptr, nullptr);
    if (name != nullptr) sym->function = Demangle(name);
  }
  if (cu == nullptr) {
    sym->why_not =
        dwfl_module_getdwarf(object.module, &dwarf_bias) == nullptr ? "no DWARF" : "no line info";
    return;
  }
  Dwfl_Line* dwfl_line = dwfl_module_getsrc(object.module, addr);
  Dwarf_Addr line_bias = 0;
  Dwarf_Line* line = dwfl_line != nullptr ? dwfl_dwarf_line(dwfl_line, &line_bias) : nullptr;
  int lineno = 0;
  if (line != nullptr && dwarf_lineno(line, &lineno) == 0 && lineno > 0) {
    const char* file = dwarf_linesrc(line, nullptr, nullptr);
    if (file != nullptr && file[0] != '\0') {
      sym->file = file;
      sym->line = lineno;
      sym->found = true;
      return;
    }
  }
  sym->why_not = "no line info";
}

}  // namespace

struct Symbolizer::State {
  explicit State(Options o) : options(std::move(o)) {
    // Build-id look-ups of separate debug info: the search dirs, then the system's. libdw
    // skips relative entries for build ids; ':' separates entries.
    debuginfo_path = "-:.debug";
    for (const std::string& dir : options.search_dirs) {
      if (!dir.empty() && dir[0] == '/' && dir.find(':') == std::string::npos) {
        absl::StrAppend(&debuginfo_path, ":", dir);
      }
    }
    absl::StrAppend(&debuginfo_path, ":", kSystemDebugDir);
    debuginfo_path_ptr = debuginfo_path.data();
    callbacks.find_elf = NoElf;
    // Not dwfl_standard_find_debuginfo: it falls back to debuginfod servers (the network).
    callbacks.find_debuginfo = dwfl_build_id_find_debuginfo;
    callbacks.section_address = dwfl_offline_section_address;
    callbacks.debuginfo_path = &debuginfo_path_ptr;
    disabled.why_not = "disabled";
  }

  // A mapping of the current generation, its strings copied (the generation may go away).
  struct MappedObject {
    uint64_t start = 0;
    uint64_t end = 0;
    uint64_t offset = 0;
    std::string path;
    std::string build_id;
    ObjectFile* object = nullptr;  // resolved at its first look-up
    uint64_t bias = 0;
  };

  void UseGeneration(const format::Generation& gen);
  MappedObject* FindMapping(uint64_t pc);
  void Resolve(MappedObject* m);
  std::unique_ptr<ObjectFile> Open(const std::string& path, const std::string& build_id);
  void Count(const Symbol& sym) {
    if (sym.found) {
      ++symbolized;
    } else {
      ++not_symbolized[sym.why_not];
    }
  }

  Options options;
  std::string debuginfo_path;
  char* debuginfo_path_ptr = nullptr;
  Dwfl_Callbacks callbacks = {};  // every Dwfl points at it: State never moves (heap)
  // By path + '\0' + build id: a rebuilt binary at the same path is another object.
  std::unordered_map<std::string, std::unique_ptr<ObjectFile>> objects;
  // The mappings of the generation looked up last, by start; that generation is told by its
  // address, seq, file offset and number of mappings.
  const format::Generation* gen = nullptr;
  uint64_t gen_seq = 0;
  uint64_t gen_file_offset = 0;
  size_t gen_num_mappings = 0;
  std::vector<MappedObject> mappings;
  std::unordered_map<uint64_t, Symbol> unmapped;  // "no mapping", by pc
  Symbol disabled;
  uint64_t symbolized = 0;
  std::map<std::string, uint64_t> not_symbolized;
};

void Symbolizer::State::UseGeneration(const format::Generation& g) {
  if (&g == gen && g.seq == gen_seq && g.file_offset == gen_file_offset &&
      g.mappings.size() == gen_num_mappings) {
    return;
  }
  gen = &g;
  gen_seq = g.seq;
  gen_file_offset = g.file_offset;
  gen_num_mappings = g.mappings.size();
  mappings.clear();
  for (const format::Mapping& m : g.mappings) {
    if (m.end <= m.start) continue;
    MappedObject& o = mappings.emplace_back();
    o.start = m.start;
    o.end = m.end;
    o.offset = m.offset;
    o.path = std::string(g.String(m.path));
    o.build_id = std::string(g.String(m.build_id));
  }
  std::stable_sort(mappings.begin(), mappings.end(),
                   [](const MappedObject& a, const MappedObject& b) { return a.start < b.start; });
}

Symbolizer::State::MappedObject* Symbolizer::State::FindMapping(uint64_t pc) {
  auto it = std::upper_bound(mappings.begin(), mappings.end(), pc,
                             [](uint64_t v, const MappedObject& m) { return v < m.start; });
  if (it == mappings.begin()) return nullptr;
  --it;
  return pc < it->end ? &*it : nullptr;
}

void Symbolizer::State::Resolve(MappedObject* m) {
  if (m->object != nullptr) return;
  auto [it, inserted] =
      objects.try_emplace(absl::StrCat(m->path, std::string(1, '\0'), m->build_id));
  if (inserted) it->second = Open(m->path, m->build_id);
  m->object = it->second.get();
  m->bias = LoadBias(m->object->loads, m->start, m->offset);
}

std::unique_ptr<ObjectFile> Symbolizer::State::Open(const std::string& path,
                                                    const std::string& build_id) {
  auto object = std::make_unique<ObjectFile>();
  std::vector<std::string> candidates;
  if (!path.empty()) candidates.push_back(path);
  const std::string base(Basename(path));
  if (!base.empty()) {
    for (const std::string& dir : options.search_dirs) candidates.push_back(JoinPath(dir, base));
  }
  if (IsHex(build_id) && build_id.size() > 2) {
    const std::string rel = absl::StrCat(".build-id/", absl::AsciiStrToLower(build_id.substr(0, 2)),
                                         "/", absl::AsciiStrToLower(build_id.substr(2)), ".debug");
    for (const std::string& dir : options.search_dirs) candidates.push_back(JoinPath(dir, rel));
    candidates.push_back(JoinPath(kSystemDebugDir, rel));
  }
  bool differs = false;
  bool unreadable = false;
  for (const std::string& candidate : candidates) {
    if (!IsRegularFile(candidate)) continue;  // never open a FIFO or a device
    Dwfl* dwfl = dwfl_begin(&callbacks);
    if (dwfl == nullptr) continue;
    dwfl_report_begin(dwfl);
    // Base 0 relative to p_vaddr: ELF addresses are libdwfl's (module_bias 0 but for ET_REL).
    Dwfl_Module* module = dwfl_report_elf(dwfl, base.empty() ? candidate.c_str() : base.c_str(),
                                          candidate.c_str(), -1, 0, /*add_p_vaddr=*/true);
    dwfl_report_end(dwfl, nullptr, nullptr);
    GElf_Addr elf_bias = 0;
    Elf* elf = module != nullptr ? dwfl_module_getelf(module, &elf_bias) : nullptr;
    if (elf == nullptr) {
      dwfl_end(dwfl);
      unreadable = true;
      continue;
    }
    if (!build_id.empty() && !absl::EqualsIgnoreCase(ModuleBuildId(module), build_id)) {
      dwfl_end(dwfl);
      differs = true;
      continue;
    }
    object->dwfl = dwfl;
    object->module = module;
    object->module_bias = elf_bias;
    size_t num_phdrs = 0;
    if (elf_getphdrnum(elf, &num_phdrs) != 0) num_phdrs = 0;
    bool any_exec = false;
    for (size_t i = 0; i < num_phdrs; ++i) {
      GElf_Phdr phdr;
      if (gelf_getphdr(elf, static_cast<int>(i), &phdr) == nullptr || phdr.p_type != PT_LOAD) {
        continue;
      }
      const bool exec = (phdr.p_flags & PF_X) != 0;
      object->loads.push_back({phdr.p_vaddr, phdr.p_offset, phdr.p_filesz, exec});
      any_exec = any_exec || exec;
    }
    if (!any_exec) object->why_not = "no executable segment";
    return object;
  }
  object->why_not = differs      ? "build id differs"
                    : unreadable ? "unreadable ELF"
                                 : "binary not found";
  return object;
}

Symbolizer::Symbolizer(Options options) : state_(std::make_unique<State>(std::move(options))) {}
Symbolizer::~Symbolizer() = default;
Symbolizer::Symbolizer(Symbolizer&&) noexcept = default;
Symbolizer& Symbolizer::operator=(Symbolizer&&) noexcept = default;

const Symbolizer::Symbol& Symbolizer::Lookup(const format::Generation& gen, uint64_t pc) {
  State& s = *state_;
  if (!s.options.enabled) return s.disabled;
  s.UseGeneration(gen);
  State::MappedObject* m = s.FindMapping(pc);
  if (m == nullptr) {
    auto [it, inserted] = s.unmapped.try_emplace(pc);
    if (inserted) {
      it->second.why_not = "no mapping";
      s.Count(it->second);
    }
    return it->second;
  }
  s.Resolve(m);
  ObjectFile& object = *m->object;
  const uint64_t elf_pc = pc - m->bias;  // wraps for a garbage mapping: then found nowhere
  auto [it, inserted] = object.symbols.try_emplace(elf_pc);
  if (inserted) {
    if (!object.why_not.empty()) {
      it->second.why_not = object.why_not;
    } else {
      SymbolizeInObject(object, elf_pc, &it->second);
    }
    s.Count(it->second);
  }
  return it->second;
}

Symbolizer::Stats Symbolizer::stats() const {
  Stats out;
  out.symbolized = state_->symbolized;
  out.not_symbolized.assign(state_->not_symbolized.begin(), state_->not_symbolized.end());
  std::stable_sort(out.not_symbolized.begin(), out.not_symbolized.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  return out;
}

}  // namespace tracer::analysis
