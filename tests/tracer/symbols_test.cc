// SymbolCache: names pcs, and forgets them when the loader's counts change (dlclose/dlopen).

#include "tracer/internal/symbols.h"

#include <dlfcn.h>

#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tracer/internal/ids.h"
#include "tracer/internal/mappings.h"

namespace tracer::tracer_internal {
namespace {

std::string Name(const format::Frame& f) { return std::string(Strings().Get(f.func)); }

// The pc a call into `fn` would return to, if fn's first instruction were the call: inside fn.
uintptr_t PcIn(void* fn) { return reinterpret_cast<uintptr_t>(fn) + 1; }

TEST(SymbolsTest, ACachedPcIsDroppedWhenObjectsAreLoadedOrUnloaded) {
  void* a = dlopen(SYMBOLS_TEST_LIB_A, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(a, nullptr) << dlerror();
  void* fa = dlsym(a, "TracerSymbolsTestA");
  ASSERT_NE(fa, nullptr);
  SymbolCache cache;
  const LoaderCounts before = ReadLoaderCounts();
  ASSERT_TRUE(before.known) << "glibc reports dlpi_adds/dlpi_subs";
  cache.DropIfLoaderChanged(before);
  const uintptr_t pc = PcIn(fa);
  EXPECT_TRUE(absl::StrContains(Name(cache.Symbolize(pc)), "TracerSymbolsTestA"));
  EXPECT_EQ(cache.size(), 1u);
  cache.DropIfLoaderChanged(ReadLoaderCounts());  // nothing loaded since: kept
  EXPECT_EQ(cache.size(), 1u);

  ASSERT_EQ(dlclose(a), 0);
  void* b = dlopen(SYMBOLS_TEST_LIB_B, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(b, nullptr) << dlerror();
  void* fb = dlsym(b, "TracerSymbolsTestB");
  ASSERT_NE(fb, nullptr);
  const LoaderCounts after = ReadLoaderCounts();
  EXPECT_NE(after, before);
  cache.DropIfLoaderChanged(after);
  EXPECT_EQ(cache.size(), 0u) << "the loader's counts changed: the cache is dropped";
  // The loader usually maps the second copy where the first was: the same pc then names the
  // new function (it named the old one before the fix).
  if (fb == fa) {
    EXPECT_TRUE(absl::StrContains(Name(cache.Symbolize(pc)), "TracerSymbolsTestB"))
        << Name(cache.Symbolize(pc));
  } else {
    EXPECT_TRUE(absl::StrContains(Name(cache.Symbolize(PcIn(fb))), "TracerSymbolsTestB"));
  }
  dlclose(b);
}

}  // namespace
}  // namespace tracer::tracer_internal
