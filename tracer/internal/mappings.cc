#include "tracer/internal/mappings.h"

#include <link.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

#include "tracer/internal/ids.h"

namespace tracer::tracer_internal {
namespace {

int CollectMapping(dl_phdr_info* info, size_t, void* data) {
  auto* out = static_cast<std::vector<std::pair<format::Mapping, std::string>>*>(data);
  std::string build_id;
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  uint64_t off = 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X)) {
      lo = std::min<uintptr_t>(lo, info->dlpi_addr + ph.p_vaddr);
      hi = std::max<uintptr_t>(hi, info->dlpi_addr + ph.p_vaddr + ph.p_memsz);
      off = ph.p_offset;
    } else if (ph.p_type == PT_NOTE) {
      const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
      const char* end = p + ph.p_memsz;
      while (p + sizeof(ElfW(Nhdr)) <= end) {
        auto* nh = reinterpret_cast<const ElfW(Nhdr)*>(p);
        const char* name = p + sizeof(ElfW(Nhdr));
        const char* desc = name + ((nh->n_namesz + 3) & ~3u);
        if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0 &&
            desc + nh->n_descsz <= end) {
          static const char kHex[] = "0123456789abcdef";
          for (uint32_t k = 0; k < nh->n_descsz; ++k) {
            build_id.push_back(kHex[static_cast<unsigned char>(desc[k]) >> 4]);
            build_id.push_back(kHex[static_cast<unsigned char>(desc[k]) & 15]);
          }
        }
        p = desc + ((nh->n_descsz + 3) & ~3u);
      }
    }
  }
  if (hi == 0) return 0;
  std::string path = info->dlpi_name != nullptr && info->dlpi_name[0] != '\0'
                         ? info->dlpi_name
                         : std::string("/proc/self/exe");
  if (path == "/proc/self/exe") {
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) path.assign(exe, n);
  }
  format::Mapping m;
  m.start = lo;
  m.end = hi;
  m.offset = off;
  out->push_back({m, build_id + std::string(1, '\0') + path});
  return 0;
}

}  // namespace

LoaderCounts ReadLoaderCounts() {
  LoaderCounts c;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t size, void* data) {
        auto* out = static_cast<LoaderCounts*>(data);
        if (size >= offsetof(dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs)) {
          out->known = true;
          out->adds = info->dlpi_adds;
          out->subs = info->dlpi_subs;
        }
        return 1;  // the first object says it
      },
      &c);
  return c;
}

std::vector<format::Mapping> ReadMappings() {
  std::vector<std::pair<format::Mapping, std::string>> maps;
  dl_iterate_phdr(CollectMapping, &maps);
  std::vector<format::Mapping> out;
  for (auto& [m, ids] : maps) {
    size_t z = ids.find('\0');
    m.build_id = Strings().Intern(ids.substr(0, z));
    m.path = Strings().Intern(ids.substr(z + 1));
    out.push_back(m);
  }
  return out;
}

const std::vector<format::Mapping>& MappingCache::Get(const LoaderCounts& lc) {
  if (!lc.known || lc != counts_ || mappings_.empty()) {
    mappings_ = ReadMappings();
    counts_ = lc;
  }
  return mappings_;
}

}  // namespace tracer::tracer_internal
