// Profiles from the scripted request trace (request_trace.h): each kind charges the intervals
// the script holds to the stacks it names. The encoding itself is read back by `go tool pprof`
// in tracetool_cli_test.sh and demo_test.sh.

#include "tools/analysis/pprof.h"

#include <cmath>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "format/byte_source.h"
#include "format/trace_reader.h"
#include "gtest/gtest.h"
#include "tests/tools/request_trace.h"
#include "tools/analysis/profile_diff.h"

namespace tracer::analysis {
namespace {

absl::StatusOr<ProfileResult> Compute(const std::string& data, ProfileKind kind,
                                      const std::string& region = "") {
  absl::StatusOr<std::unique_ptr<format::TraceReader>> reader =
      format::TraceReader::FromSource(format::MakeStringSource(data));
  if (!reader.ok()) return reader.status();
  ProfileOptions options;
  options.kind = kind;
  options.region = region;
  return ComputeProfile(reader->get(), options);
}

// The functions of a sample's locations, innermost first.
std::vector<std::string> Functions(const PprofBuilder& p, const PprofBuilder::Sample& s) {
  std::vector<std::string> out;
  for (uint64_t l : s.locations) out.emplace_back(p.LocationFunction(l));
  return out;
}

TEST(PprofTest, SyncChargesEachWaitToTheWaitersStack) {
  absl::StatusOr<ProfileResult> r = Compute(MakeRequestTrace(), ProfileKind::kSync);
  ASSERT_TRUE(r.ok()) << r.status();
  const PprofBuilder& p = *r->profile;
  ASSERT_EQ(p.samples().size(), 1u);
  const PprofBuilder::Sample& s = p.samples()[0];
  EXPECT_EQ(Functions(p, s),
            (std::vector<std::string>{"tracer::Mutex::Lock", "Cache::Get", "Handler::Serve"}));
  // Task 5 waited 2000..4000 us and 5200..5500 us.
  EXPECT_EQ(s.values, (std::vector<int64_t>{2, 2'300'000}));
  EXPECT_EQ(r->intervals, 2u);
  EXPECT_EQ(r->total_ns, 2'300'000);
  EXPECT_EQ(r->unfinished, 0u) << "the sleep is not a sync wait";
}

TEST(PprofTest, MutexChargesTheWaitToTheUnlockersStack) {
  absl::StatusOr<ProfileResult> r = Compute(MakeRequestTrace(), ProfileKind::kMutex);
  ASSERT_TRUE(r.ok()) << r.status();
  const PprofBuilder& p = *r->profile;
  ASSERT_EQ(p.samples().size(), 1u);
  EXPECT_EQ(Functions(p, p.samples()[0]),
            (std::vector<std::string>{"tracer::Mutex::Unlock", "Cache::Refresh",
                                      "Refresher::Run"}));
  EXPECT_EQ(p.samples()[0].values, (std::vector<int64_t>{2, 2'300'000}));
  const std::vector<FlatEntry> flat = FlatProfile(p);
  ASSERT_EQ(flat.size(), 1u);
  EXPECT_EQ(flat[0].function, "Cache::Refresh") << "the tracer's own frames are skipped";
}

TEST(PprofTest, SchedChargesRunnableTimeToWhereTheTaskResumes) {
  absl::StatusOr<ProfileResult> r = Compute(MakeRequestTrace(), ProfileKind::kSched);
  ASSERT_TRUE(r.ok()) << r.status();
  // Woken at 4000 and 5500 us, running again at 4500 and 5600.
  EXPECT_EQ(r->total_ns, 600'000);
  ASSERT_EQ(r->profile->samples().size(), 1u);
  EXPECT_EQ(Functions(*r->profile, r->profile->samples()[0])[1], "Cache::Get");
}

TEST(PprofTest, SyscallsWithNoStackAreKeptUnderTheirOwnFrame) {
  absl::StatusOr<ProfileResult> r = Compute(MakeRequestTrace(), ProfileKind::kSyscall);
  ASSERT_TRUE(r.ok()) << r.status();
  const PprofBuilder& p = *r->profile;
  ASSERT_EQ(p.samples().size(), 1u);
  EXPECT_EQ(Functions(p, p.samples()[0]), (std::vector<std::string>{"(no stack recorded)"}));
  EXPECT_EQ(p.samples()[0].values, (std::vector<int64_t>{2, 300'000}));
  ASSERT_EQ(p.samples()[0].labels.size(), 1u);
  EXPECT_EQ(p.samples()[0].labels[0].key, "syscall");
  EXPECT_EQ(p.samples()[0].labels[0].str, "read");
}

TEST(PprofTest, RegionProfileAndRegionFilter) {
  absl::StatusOr<ProfileResult> r = Compute(MakeRequestTrace(), ProfileKind::kRegion);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->profile->samples().size(), 1u);
  EXPECT_EQ(Functions(*r->profile, r->profile->samples()[0])[0], "region lookup");
  EXPECT_EQ(r->total_ns, 3'400'000);  // 1600..5000 us
  // Only the first wait (2000 us) begins inside "lookup" (1600..5000).
  absl::StatusOr<ProfileResult> inside = Compute(MakeRequestTrace(), ProfileKind::kSync, "lookup");
  ASSERT_TRUE(inside.ok()) << inside.status();
  EXPECT_EQ(inside->total_ns, 2'000'000);
  EXPECT_EQ(inside->intervals, 1u);
}

TEST(PprofTest, EncodedProfileIsGzippedProtobufWithItsStrings) {
  absl::StatusOr<ProfileResult> r = Compute(MakeRequestTrace(), ProfileKind::kSync);
  ASSERT_TRUE(r.ok()) << r.status();
  const std::string raw = r->profile->Encode();
  EXPECT_TRUE(absl::StrContains(raw, "contentions"));
  EXPECT_TRUE(absl::StrContains(raw, "delay"));
  EXPECT_TRUE(absl::StrContains(raw, "Cache::Get"));
  absl::StatusOr<std::string> gz = Gzip(raw);
  ASSERT_TRUE(gz.ok()) << gz.status();
  ASSERT_GE(gz->size(), 18u);
  EXPECT_EQ(static_cast<unsigned char>((*gz)[0]), 0x1f);  // gzip magic
  EXPECT_EQ(static_cast<unsigned char>((*gz)[1]), 0x8b);
}

TEST(PprofTest, EqualSamplesMergeAndLabelsKeepThemApart) {
  PprofBuilder p({{"contentions", "count"}, {"delay", "nanoseconds"}});
  const uint64_t m = p.Mapping(0x1000, 0x2000, 0, "/bin/app", "abcd");
  const uint64_t a = p.Location(0x1010, "A", "a.cc", 3, m);
  EXPECT_EQ(p.Location(0x1010, "A", "a.cc", 3, m), a);
  const uint64_t locs[] = {a};
  const PprofLabel get[] = {{"endpoint", "/get", 0, ""}};
  const PprofLabel put[] = {{"endpoint", "/put", 0, ""}};
  const int64_t v[] = {1, 100};
  p.AddSample(locs, get, v);
  p.AddSample(locs, get, v);
  p.AddSample(locs, put, v);
  ASSERT_EQ(p.samples().size(), 2u);
  EXPECT_EQ(p.samples()[0].values, (std::vector<int64_t>{2, 200}));
  EXPECT_EQ(p.samples()[1].values, (std::vector<int64_t>{1, 100}));
}

// The fields of one protobuf message: (field, varint value or bytes), in order. Enough of the
// wire format to read back what PprofBuilder encodes (varints and length-delimited fields).
struct ProtoField {
  int field = 0;
  uint64_t varint = 0;
  std::string bytes;
};
std::vector<ProtoField> DecodeMessage(absl::string_view in) {
  std::vector<ProtoField> out;
  size_t i = 0;
  auto varint = [&](uint64_t* v) {
    *v = 0;
    for (int shift = 0; i < in.size() && shift < 64; shift += 7) {
      const uint8_t b = static_cast<uint8_t>(in[i++]);
      *v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  };
  while (i < in.size()) {
    uint64_t tag = 0;
    if (!varint(&tag)) break;
    ProtoField f;
    f.field = static_cast<int>(tag >> 3);
    if ((tag & 7) == 0) {
      if (!varint(&f.varint)) break;
    } else if ((tag & 7) == 2) {
      uint64_t n = 0;
      if (!varint(&n) || n > in.size() - i) break;
      f.bytes = std::string(in.substr(i, n));
      i += n;
    } else {
      ADD_FAILURE() << "unexpected wire type " << (tag & 7);
      break;
    }
    out.push_back(std::move(f));
  }
  return out;
}

// A location of an inlined call is one Location with a Line per function, innermost first
// (profile.proto); the mapping says it has file names and line numbers only when every line
// has them.
TEST(PprofTest, InlinedFunctionsAreLinesOfOneLocation) {
  PprofBuilder p({{"contentions", "count"}, {"delay", "nanoseconds"}});
  const uint64_t m = p.Mapping(0x1000, 0x2000, 0, "/bin/app", "abcd");
  const PprofLine lines[] = {{"Inner", "inner.h", 7}, {"Outer", "outer.cc", 30}};
  const uint64_t loc = p.Location(0x1010, lines, m);
  EXPECT_EQ(p.Location(0x1010, lines, m), loc);
  EXPECT_NE(p.Location(0x1010, absl::Span<const PprofLine>(lines, 1), m), loc);
  EXPECT_EQ(p.LocationFunction(loc), "Inner");
  const uint64_t locs[] = {loc};
  const int64_t v[] = {1, 100};
  p.AddSample(locs, {}, v);

  std::vector<std::string> strings;
  std::vector<ProtoField> profile = DecodeMessage(p.Encode());
  for (const ProtoField& f : profile) {
    if (f.field == 6) strings.push_back(f.bytes);
  }
  std::map<uint64_t, std::pair<std::string, std::string>> functions;  // id -> name, file
  for (const ProtoField& f : profile) {
    if (f.field != 5) continue;
    uint64_t id = 0, name = 0, file = 0;
    for (const ProtoField& g : DecodeMessage(f.bytes)) {
      if (g.field == 1) id = g.varint;
      if (g.field == 2) name = g.varint;
      if (g.field == 4) file = g.varint;
    }
    ASSERT_LT(std::max(name, file), strings.size());
    functions[id] = {strings[name], strings[file]};
  }
  std::vector<std::string> first_location;  // "name file:line" per Line
  bool has_lines = false;  // the mapping's has_line_numbers
  for (const ProtoField& f : profile) {
    if (f.field == 4 && first_location.empty()) {
      for (const ProtoField& g : DecodeMessage(f.bytes)) {
        if (g.field != 4) continue;
        uint64_t function = 0, line = 0;
        for (const ProtoField& h : DecodeMessage(g.bytes)) {
          if (h.field == 1) function = h.varint;
          if (h.field == 2) line = h.varint;
        }
        first_location.push_back(absl::StrCat(functions[function].first, " ",
                                              functions[function].second, ":", line));
      }
    }
    if (f.field == 3) {
      for (const ProtoField& g : DecodeMessage(f.bytes)) {
        if (g.field == 9) has_lines = g.varint != 0;
      }
    }
  }
  EXPECT_EQ(first_location, (std::vector<std::string>{"Inner inner.h:7", "Outer outer.cc:30"}));
  EXPECT_TRUE(has_lines);

  // A function without a line: the mapping no longer claims line numbers (pprof may look).
  p.Location(0x1020, "NoLine", "", 0, m);
  has_lines = false;  // proto3: a false field is not written
  for (const ProtoField& f : DecodeMessage(p.Encode())) {
    if (f.field != 3) continue;
    for (const ProtoField& g : DecodeMessage(f.bytes)) {
      if (g.field == 9) has_lines = g.varint != 0;
    }
  }
  EXPECT_FALSE(has_lines);
}

// The flat summary names the innermost function outside the tracer, looking inside each
// location's inlined lines (the kit's inline functions are lines of the caller's location),
// past address-only frames, with the line that holds the most.
TEST(PprofTest, FlatProfileLooksThroughInlinedTracerFunctions) {
  PprofBuilder p({{"contentions", "count"}, {"delay", "nanoseconds"}});
  const uint64_t m = p.Mapping(0x1000, 0x2000, 0, "/bin/app", "abcd");
  const uint64_t park = p.Location(0x1008, "tracer::sync_internal::Park", "park.cc", 10, m);
  const uint64_t raw = p.Location(0x1010, {}, m);  // address only
  const PprofLine inlined[] = {{"tracer::Channel<int>::Receive()", "channel.h", 64},
                               {"App::Loop()", "/src/app/app.cc", 240}};
  const uint64_t loop = p.Location(0x1020, inlined, m);
  const PprofLine other_line[] = {{"tracer::Channel<int>::Receive()", "channel.h", 64},
                                  {"App::Loop()", "/src/app/app.cc", 250}};
  const uint64_t loop2 = p.Location(0x1030, other_line, m);
  const int64_t big[] = {1, 300}, small[] = {1, 100};
  const uint64_t a[] = {park, raw, loop}, b[] = {park, loop2};
  p.AddSample(a, {}, big);
  p.AddSample(b, {}, small);
  const std::vector<FlatEntry> flat = FlatProfile(p);
  ASSERT_EQ(flat.size(), 1u);
  EXPECT_EQ(flat[0].function, "App::Loop()");
  EXPECT_EQ(flat[0].value, 400);
  EXPECT_EQ(flat[0].count, 2);
  EXPECT_EQ(flat[0].where, "/src/app/app.cc:240");
  EXPECT_EQ(FlatEntryText(flat[0]), "App::Loop() (app.cc:240)");
  // Only the tracer's frames: the innermost is named.
  PprofBuilder q({{"contentions", "count"}, {"delay", "nanoseconds"}});
  const uint64_t only = q.Location(0x1008, "tracer::sync_internal::Park", "park.cc", 10, 0);
  const uint64_t d[] = {only};
  q.AddSample(d, {}, small);
  EXPECT_EQ(FlatProfile(q)[0].function, "tracer::sync_internal::Park");
}

TEST(PprofTest, TruncatedTraceReturnsTheReadersError) {
  std::string data = MakeRequestTrace();
  data.resize(data.size() - 9);
  absl::StatusOr<ProfileResult> r = Compute(data, ProfileKind::kSync);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::StrContains(r.status().message(), "offset")) << r.status();
}

TEST(PprofTest, DiffGivesTheChangePerCallSite) {
  absl::StatusOr<ProfileResult> all = Compute(MakeRequestTrace(), ProfileKind::kSync);
  absl::StatusOr<ProfileResult> lookup = Compute(MakeRequestTrace(), ProfileKind::kSync, "lookup");
  ASSERT_TRUE(all.ok() && lookup.ok());
  const ProfileDiff d = DiffProfiles(*all, *lookup, ProfileKind::kSync);
  ASSERT_EQ(d.entries.size(), 1u);
  EXPECT_EQ(d.entries[0].function, "Cache::Get");
  EXPECT_EQ(d.entries[0].delta(), -300'000);
  EXPECT_EQ(d.entries[0].before_count, 2);
  EXPECT_EQ(d.entries[0].after_count, 1);
  EXPECT_NEAR(d.entries[0].delta_percent(), -13.04, 0.01);
  const std::string text = FormatProfileDiffText(d, 10);
  EXPECT_TRUE(absl::StrContains(text, "-300.0us")) << text;
  EXPECT_TRUE(absl::StrContains(text, "-13.0%")) << text;
  const ProfileDiff reverse = DiffProfiles(*lookup, *all, ProfileKind::kSync);
  EXPECT_EQ(reverse.entries[0].delta(), 300'000);
  const ProfileDiff none = DiffProfiles(*all, *all, ProfileKind::kSync);
  EXPECT_EQ(none.entries[0].delta(), 0);
  EXPECT_EQ(none.entries[0].delta_percent(), 0.0);
}

TEST(PprofTest, CpuSamplesBecomeSamplesAndCpuTime) {
  std::string data;
  format::AppendFileHeader(&data);
  format::GenerationBuilder gb(1);
  gb.SetClock({kNsClock, 0, kMono0, kReal0});
  AddRequestTables(&gb);
  gb.AddString(100, "endpoint");
  gb.AddString(101, "/get");
  const std::pair<uint64_t, uint64_t> labels[] = {{100, 101}};
  gb.AddLabelSet(1, labels);
  format::EventEncoder enc(0);
  enc.Append(EventType::kTaskCreate, Us(1), {7, 0, kSRequest, 1, 0});
  enc.Append(EventType::kTaskStart, Us(2), {7, 1});
  enc.Append(EventType::kCpuSample, Us(10), {7, kWaiterStack});
  enc.Append(EventType::kCpuSample, Us(20), {7, kWaiterStack});
  enc.Append(EventType::kCpuSample, Us(30), {0, kSleepStack});
  gb.AddBatch(kMain, 0, enc.base_tick(), enc.num_events(), enc.data());
  gb.AppendTo(&data, /*compress=*/false);
  absl::StatusOr<ProfileResult> r = Compute(data, ProfileKind::kCpu);
  ASSERT_TRUE(r.ok()) << r.status();
  const PprofBuilder& p = *r->profile;
  ASSERT_EQ(p.samples().size(), 2u);
  EXPECT_EQ(p.samples()[0].values, (std::vector<int64_t>{2, 20'000'000})) << "2 x 10 ms";
  ASSERT_EQ(p.samples()[0].labels.size(), 1u);
  EXPECT_EQ(p.samples()[0].labels[0].key, "endpoint") << "the sampled task's labels";
  EXPECT_EQ(p.samples()[0].labels[0].str, "/get");
  EXPECT_EQ(Functions(p, p.samples()[1]), (std::vector<std::string>{"Sleeper::Nap"}));
  EXPECT_TRUE(p.samples()[1].labels.empty());
  EXPECT_EQ(r->total_ns, 30'000'000);
  EXPECT_TRUE(absl::StrContains(p.Encode(), "samples"));
}

TEST(PprofTest, KindNamesRoundTrip) {
  for (ProfileKind k : {ProfileKind::kSync, ProfileKind::kMutex, ProfileKind::kNet,
                        ProfileKind::kSyscall, ProfileKind::kSched, ProfileKind::kRegion,
                        ProfileKind::kCpu}) {
    ProfileKind parsed;
    ASSERT_TRUE(ParseProfileKind(ProfileKindName(k), &parsed));
    EXPECT_EQ(parsed, k);
  }
  ProfileKind unused;
  EXPECT_FALSE(ParseProfileKind("heap", &unused));
}

}  // namespace
}  // namespace tracer::analysis
