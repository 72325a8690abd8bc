// Names passed as strings: a literal (or any const char array) is interned once per call
// site and must still name every event right, whatever the array holds at each call; every
// other argument kind is interned per call. Each test reads the trace back.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "tests/tracer/test_util.h"
#include "tracer/tracer.h"

namespace tracer {
namespace {

using format::EventType;
using testing::ReadTrace;
using tracer_internal::SiteNameInterns;

class LiteralNameTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BufferConfig c;
    c.stacks = false;
    ASSERT_TRUE(SetBufferConfig(c).ok());
    TraceOptions o;
    o.generation_period = absl::Seconds(60);
    ASSERT_TRUE(StartTrace(sink_, o).ok());
  }
  void TearDown() override {
    if (IsTracing()) (void)StopTrace();
    ASSERT_TRUE(SetBufferConfig(BufferConfig()).ok());
  }

  // Stops the trace; the names of its region begins, logs (category) and user tasks, in order.
  struct Names {
    std::vector<std::string> regions, logs, tasks;
  };
  Names Stop() {
    Names n;
    EXPECT_TRUE(StopTrace().ok());
    auto rb = ReadTrace(sink_.Release());
    EXPECT_TRUE(rb.ok()) << rb.status();
    if (!rb.ok()) return n;
    for (const auto& [e, g] : rb->events) {
      const format::Generation& gen = *rb->generations[g];
      if (e.type == EventType::kRegionBegin) n.regions.emplace_back(gen.String(e.args[1]));
      if (e.type == EventType::kLog) n.logs.emplace_back(gen.String(e.args[1]));
      if (e.type == EventType::kUserTaskBegin) n.tasks.emplace_back(gen.String(e.args[2]));
    }
    return n;
  }

  StringSink sink_;
};

using Strings = std::vector<std::string>;

TEST_F(LiteralNameTest, EveryLiteralEntryPointNamesItsEventsAndInternsOncePerSite) {
  const uint64_t before = SiteNameInterns();
  for (int i = 0; i < 100; ++i) {
    Task t = NewTask("lit-task");
    Task child = NewTask(t, "lit-child");
    CurrentTaskScope scope(t);
    { Region r = StartRegion(t, "lit-region"); }
    { Region r = StartRegion("lit-current"); }
    WithRegion(t, "lit-with", [] {});
    Log(t, "lit-log", "message");
    Log("lit-log-current", "message");
  }
  // Seven sites, each interned on its first call only (the cache held for 99 calls each).
  EXPECT_EQ(SiteNameInterns() - before, 7u);
  const Names n = Stop();
  ASSERT_EQ(n.regions.size(), 300u);
  ASSERT_EQ(n.logs.size(), 200u);
  ASSERT_EQ(n.tasks.size(), 200u);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(n.tasks[2 * i], "lit-task");
    EXPECT_EQ(n.tasks[2 * i + 1], "lit-child");
    EXPECT_EQ(n.regions[3 * i], "lit-region");
    EXPECT_EQ(n.regions[3 * i + 1], "lit-current");
    EXPECT_EQ(n.regions[3 * i + 2], "lit-with");
    EXPECT_EQ(n.logs[2 * i], "lit-log");
    EXPECT_EQ(n.logs[2 * i + 1], "lit-log-current");
  }
}

TEST_F(LiteralNameTest, MutableBufferReusedWithOtherTextGivesEachText) {
  const Task t;
  char buf[6];  // "buf-N" fills it, as a literal would: the shape a site's cache keeps
  const uint64_t before = SiteNameInterns();
  for (int i = 0; i < 8; ++i) {
    std::snprintf(buf, sizeof(buf), "buf-%d", i);
    { Region r = StartRegion(t, buf); }
    { Region r = StartRegion(buf); }
    WithRegion(t, buf, [] {});
    Log(t, buf, "m");
    Log(buf, "m");
    Task task = NewTask(buf);
    Task child = NewTask(t, buf);
  }
  // A mutable buffer never takes a call site's cache: its text is not a literal's.
  EXPECT_EQ(SiteNameInterns(), before);
  const Names n = Stop();
  ASSERT_EQ(n.regions.size(), 24u);
  ASSERT_EQ(n.logs.size(), 16u);
  ASSERT_EQ(n.tasks.size(), 16u);
  for (int i = 0; i < 8; ++i) {
    const std::string want = absl::StrCat("buf-", i);
    for (int k = 0; k < 3; ++k) EXPECT_EQ(n.regions[3 * i + k], want) << k;
    for (int k = 0; k < 2; ++k) EXPECT_EQ(n.logs[2 * i + k], want) << k;
    for (int k = 0; k < 2; ++k) EXPECT_EQ(n.tasks[2 * i + k], want) << k;
  }
}

// A const local array whose text differs per call: the same call site and (called from the
// same frame) the same stack address each time. Sets *address to the array's address.
volatile char g_digit = '0';
__attribute__((noinline)) void RegionNamedInFrame(const Task& t, char c, uintptr_t* address) {
  const char name[8] = {'f', 'r', 'a', 'm', 'e', '-', c, '\0'};
  {
    Region r = StartRegion(t, name);
  }
  Log(t, name, "m");
  Task task = NewTask(name);
  *address = reinterpret_cast<uintptr_t>(&name[0]);  // compared, never dereferenced
}
// Another frame with a const array of the same size at (likely) the same address.
__attribute__((noinline)) void RegionNamedInOtherFrame(const Task& t, uintptr_t* address) {
  const char name[8] = {'o', 't', 'h', 'e', 'r', '-', g_digit, '\0'};
  {
    Region r = StartRegion(t, name);
  }
  Log(t, name, "m");
  Task task = NewTask(name);
  *address = reinterpret_cast<uintptr_t>(&name[0]);  // compared, never dereferenced
}

TEST_F(LiteralNameTest, ConstArraysAtTheSameStackAddressWithOtherTextGiveTheirOwnNames) {
  const Task t;
  std::vector<uintptr_t> addresses;
  Strings want;
  for (int i = 0; i < 6; ++i) {
    addresses.push_back(0);
    RegionNamedInFrame(t, static_cast<char>('a' + i), &addresses.back());
    want.push_back(absl::StrCat("frame-", std::string(1, static_cast<char>('a' + i))));
    addresses.push_back(0);
    RegionNamedInOtherFrame(t, &addresses.back());
    want.push_back("other-0");
  }
  // Each function's arrays really did share one address, frame after frame (else this tests
  // less than it says).
  for (size_t i = 2; i < addresses.size(); ++i) EXPECT_EQ(addresses[i], addresses[i % 2]) << i;
  const Names n = Stop();
  EXPECT_EQ(n.regions, want);
  EXPECT_EQ(n.logs, want);
  EXPECT_EQ(n.tasks, want);
}

// One call site reached with different literals of one length (a template instantiated once
// for N = 3): the site keeps the first, and the other still gets its own name.
template <size_t N>
__attribute__((noinline)) void RegionThroughOneSite(const Task& t, const char (&name)[N]) {
  {
    Region r = StartRegion(t, name);
  }
  Log(t, name, "m");
}

TEST_F(LiteralNameTest, DifferentLiteralsThroughOneSiteGiveTheirOwnNames) {
  const Task t;
  Strings want;
  for (int i = 0; i < 4; ++i) {
    RegionThroughOneSite(t, "ab");
    RegionThroughOneSite(t, "cd");
    want.insert(want.end(), {"ab", "cd"});
  }
  const Names n = Stop();
  EXPECT_EQ(n.regions, want);
  EXPECT_EQ(n.logs, want);
}

// Every argument kind resolves to one overload (an ambiguity fails this file's build) and
// (Debian's absl::string_view is abseil's own type: a std::string_view does not convert, as
// before; an overload for it would make std::string ambiguous.)
// gives the right name; the kinds that are not const char arrays never touch a site's cache.
TEST_F(LiteralNameTest, EveryArgumentKindCompilesAndNamesItsEvents) {
  const Task t;
  static const Name kName("name");
  const std::string str = "std-string";
  const absl::string_view absl_sv = "absl-string-view";
  const char* const cptr = "const-char-ptr";
  char mutable_chars[] = "char-ptr";
  char* const ptr = mutable_chars;
  static const char kStaticArray[] = "static-array";
  const char local_array[] = "local-array";
  const char longer[64] = "short-in-a-long-array";  // NULs after the text: interned per call
  const uint64_t before = SiteNameInterns();
#define TRACER_ALL_FORMS(arg)              \
  do {                                     \
    { Region r = StartRegion(t, arg); }    \
    { Region r = StartRegion(arg); }       \
    WithRegion(t, arg, [] {});             \
    Log(t, arg, "m");                      \
    Log(arg, "m");                         \
    Task task = NewTask(arg);              \
    Task child = NewTask(t, arg);          \
  } while (0)
  TRACER_ALL_FORMS(kName);
  TRACER_ALL_FORMS(str);
  TRACER_ALL_FORMS(std::string("temporary"));
  TRACER_ALL_FORMS(absl_sv);
  TRACER_ALL_FORMS(cptr);
  TRACER_ALL_FORMS(ptr);
  EXPECT_EQ(SiteNameInterns(), before) << "only const char arrays use a site's cache";
  TRACER_ALL_FORMS(kStaticArray);
  TRACER_ALL_FORMS(local_array);
  TRACER_ALL_FORMS(longer);
  TRACER_ALL_FORMS("literal");
#undef TRACER_ALL_FORMS
  EXPECT_EQ(SiteNameInterns() - before, 4u * 7u);
  const Names n = Stop();
  const Strings kinds = {"name",           "std-string",   "temporary",
                         "absl-string-view", "const-char-ptr",
                         "char-ptr",       "static-array", "local-array",
                         "short-in-a-long-array", "literal"};
  Strings regions, logs, tasks;
  for (const std::string& k : kinds) {
    regions.insert(regions.end(), {k, k, k});
    logs.insert(logs.end(), {k, k});
    tasks.insert(tasks.end(), {k, k});
  }
  EXPECT_EQ(n.regions, regions);
  EXPECT_EQ(n.logs, logs);
  EXPECT_EQ(n.tasks, tasks);
}

// Threads reaching one fresh site at once: one claims it, the others intern on their own until
// it is published, and every event is named right (the TSan build checks the publication).
__attribute__((noinline)) void RaceOneSite(const Task& t, bool odd) {
  const char frame_array[6] = {'r', 'a', 'c', 'e', odd ? '1' : '0', '\0'};
  { Region r = StartRegion(t, "race-literal"); }
  Log(t, frame_array, "m");
}

TEST_F(LiteralNameTest, ThreadsClaimingOneSiteAtOnceAllGetTheRightName) {
  constexpr int kThreads = 4, kCalls = 2000;
  const uint64_t before = SiteNameInterns();
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&ready, i] {
      const Task t;
      ready.fetch_add(1);
      while (ready.load() < kThreads) {
      }
      for (int k = 0; k < kCalls; ++k) RaceOneSite(t, (i + k) & 1);
    });
  }
  for (auto& th : threads) th.join();
  // The literal site: at most one intern per thread (before the claim was published). The
  // array site alternates texts, so it interns whenever the text is not the kept one: half
  // the calls at most.
  EXPECT_LE(SiteNameInterns() - before, static_cast<uint64_t>(kThreads + kThreads * kCalls / 2));
  const Names n = Stop();
  ASSERT_EQ(n.regions.size(), static_cast<size_t>(kThreads * kCalls));
  ASSERT_EQ(n.logs.size(), static_cast<size_t>(kThreads * kCalls));
  for (const std::string& r : n.regions) ASSERT_EQ(r, "race-literal");
  size_t ones = 0;
  for (const std::string& l : n.logs) {
    ASSERT_TRUE(l == "race0" || l == "race1") << l;
    ones += l == "race1";
  }
  EXPECT_EQ(ones, static_cast<size_t>(kThreads * kCalls / 2));
}

// Disabled, a literal site neither interns nor claims its cache.
TEST_F(LiteralNameTest, DisabledLiteralCallsInternNothing) {
  ASSERT_TRUE(StopTrace().ok());
  const Task t;
  const uint64_t before = SiteNameInterns();
  for (int i = 0; i < 100; ++i) {
    { Region r = StartRegion(t, "cold-literal"); }
    Log(t, "cold-literal", "m");
    Task task = NewTask("cold-literal");
  }
  EXPECT_EQ(SiteNameInterns(), before);
}

}  // namespace
}  // namespace tracer
