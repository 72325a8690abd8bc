// The timeline export (tools/analysis/timeline.h) on scripted traces with known timing: its
// output parses as JSON (a small parser below), follows the Trace Event format, nests strictly
// on every track, pairs its flows, counts the script's slices, clips to windows, and escapes
// arbitrary bytes into valid UTF-8.

#include "tools/analysis/timeline.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "format/byte_source.h"
#include "format/event_printer.h"
#include "format/trace_reader.h"
#include "gtest/gtest.h"
#include "tests/tools/request_trace.h"

namespace tracer::analysis {
namespace {

// --- A minimal JSON parser (RFC 8259), enough to check the output's structure. ---

struct Json {
  enum Kind { kNull, kBool, kNumber, kString, kArray, kObject } kind = kNull;
  bool b = false;
  std::string text;  // a string's decoded value, or a number's source text
  std::vector<Json> items;
  std::vector<std::pair<std::string, Json>> fields;
  const Json* Get(absl::string_view key) const {
    for (const auto& [k, v] : fields) {
      if (k == key) return &v;
    }
    return nullptr;
  }
  std::string Str(absl::string_view key) const {
    const Json* v = Get(key);
    return v != nullptr && v->kind == kString ? v->text : "";
  }
  int64_t Int(absl::string_view key) const {
    const Json* v = Get(key);
    int64_t n = -1;
    if (v == nullptr || v->kind != kNumber || !absl::SimpleAtoi(v->text, &n)) return -1;
    return n;
  }
};

class JsonParser {
 public:
  explicit JsonParser(absl::string_view s) : s_(s) {}
  // The document, or false if it is not exactly one valid JSON value.
  bool Parse(Json* out) {
    if (!Value(out, 0)) return false;
    Ws();
    return i_ == s_.size();
  }

 private:
  void Ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r'))
      ++i_;
  }
  bool Lit(absl::string_view lit) {
    if (!absl::StartsWith(s_.substr(i_), lit)) return false;
    i_ += lit.size();
    return true;
  }
  bool Value(Json* v, int depth) {
    if (depth > 64) return false;
    Ws();
    if (i_ >= s_.size()) return false;
    const char c = s_[i_];
    if (c == '{') {
      v->kind = Json::kObject;
      ++i_;
      Ws();
      if (Lit("}")) return true;
      for (;;) {
        Ws();
        std::string key;
        Json val;
        if (!String(&key)) return false;
        Ws();
        if (!Lit(":") || !Value(&val, depth + 1)) return false;
        v->fields.emplace_back(std::move(key), std::move(val));
        Ws();
        if (Lit("}")) return true;
        if (!Lit(",")) return false;
      }
    }
    if (c == '[') {
      v->kind = Json::kArray;
      ++i_;
      Ws();
      if (Lit("]")) return true;
      for (;;) {
        v->items.emplace_back();
        if (!Value(&v->items.back(), depth + 1)) return false;
        Ws();
        if (Lit("]")) return true;
        if (!Lit(",")) return false;
      }
    }
    if (c == '"') {
      v->kind = Json::kString;
      return String(&v->text);
    }
    if (Lit("true") || Lit("false")) {
      v->kind = Json::kBool;
      v->b = s_[i_ - 1] == 'e' && s_[i_ - 2] == 'u';
      return true;
    }
    if (Lit("null")) return true;
    const size_t start = i_;
    if (i_ < s_.size() && s_[i_] == '-') ++i_;
    const size_t int_start = i_;
    while (i_ < s_.size() && absl::ascii_isdigit(s_[i_])) ++i_;
    if (i_ == int_start || (s_[int_start] == '0' && i_ - int_start > 1)) return false;
    if (i_ < s_.size() && s_[i_] == '.') {
      const size_t frac = ++i_;
      while (i_ < s_.size() && absl::ascii_isdigit(s_[i_])) ++i_;
      if (i_ == frac) return false;
    }
    v->kind = Json::kNumber;
    v->text = std::string(s_.substr(start, i_ - start));
    return true;
  }
  bool String(std::string* out) {
    if (!Lit("\"")) return false;
    while (i_ < s_.size()) {
      const unsigned char c = static_cast<unsigned char>(s_[i_++]);
      if (c == '"') return true;
      if (c < 0x20) return false;
      if (c != '\\') {
        out->push_back(static_cast<char>(c));
        continue;
      }
      if (i_ >= s_.size()) return false;
      const char e = s_[i_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out->push_back(e);
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'u': {
          uint32_t cp = 0;
          if (i_ + 4 > s_.size() || !absl::SimpleHexAtoi(s_.substr(i_, 4), &cp)) return false;
          i_ += 4;
          if (cp >= 0xd800 && cp <= 0xdfff) return false;  // never written by the exporter
          if (cp < 0x80) {
            out->push_back(static_cast<char>(cp));
          } else if (cp < 0x800) {
            out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
            out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
          } else {
            out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
            out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
            out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
          }
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }

  absl::string_view s_;
  size_t i_ = 0;
};

// RFC 3629's table of well-formed byte sequences.
bool ValidUtf8(absl::string_view s) {
  auto in = [](unsigned char b, int lo, int hi) { return b >= lo && b <= hi; };
  for (size_t i = 0; i < s.size();) {
    const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
    const size_t left = s.size() - i;
    if (b(0) <= 0x7f) {
      i += 1;
    } else if (in(b(0), 0xc2, 0xdf) && left >= 2 && in(b(1), 0x80, 0xbf)) {
      i += 2;
    } else if (left >= 3 && in(b(2), 0x80, 0xbf) &&
               ((b(0) == 0xe0 && in(b(1), 0xa0, 0xbf)) ||
                ((in(b(0), 0xe1, 0xec) || in(b(0), 0xee, 0xef)) && in(b(1), 0x80, 0xbf)) ||
                (b(0) == 0xed && in(b(1), 0x80, 0x9f)))) {
      i += 3;
    } else if (left >= 4 && in(b(2), 0x80, 0xbf) && in(b(3), 0x80, 0xbf) &&
               ((b(0) == 0xf0 && in(b(1), 0x90, 0xbf)) ||
                (in(b(0), 0xf1, 0xf3) && in(b(1), 0x80, 0xbf)) ||
                (b(0) == 0xf4 && in(b(1), 0x80, 0x8f)))) {
      i += 4;
    } else {
      return false;
    }
  }
  return true;
}

// --- The export, parsed, with the checks every test makes. ---

struct Entry {
  const Json* json;
  std::string ph, name, cat;
  int64_t tid = -1, ts_ns = -1;  // ts_ns: "ts" read back exactly (µs with 3 decimals)
  std::string Arg(absl::string_view key) const {
    const Json* args = json->Get("args");
    if (args == nullptr) return "";
    const Json* v = args->Get(key);
    if (v == nullptr) return "";
    return v->kind == Json::kString ? v->text
           : v->kind == Json::kBool ? (v->b ? "true" : "false")
                                    : v->text;
  }
};

struct Timeline {
  std::string text;
  Json root;
  std::vector<Entry> entries;
  std::map<int64_t, std::string> thread_names;  // tid -> thread_name
  std::vector<const Entry*> Where(absl::string_view ph, absl::string_view cat = {},
                                  int64_t tid = -1) const {
    std::vector<const Entry*> out;
    for (const Entry& e : entries) {
      if (e.ph == ph && (cat.empty() || e.cat == cat) && (tid < 0 || e.tid == tid))
        out.push_back(&e);
    }
    return out;
  }
  int64_t Tid(absl::string_view thread_name) const {
    for (const auto& [tid, name] : thread_names) {
      if (name == thread_name) return tid;
    }
    return -1;
  }
};

// Exports `data` and checks the format (ADD_FAILURE on a violation): the JSON object format,
// every entry's ph/pid/tid, "ts" as µs with exactly 3 decimals, a thread_name per tid used,
// each tid's "B"/"E" in time order and nested strictly (each "E" names the innermost open
// slice, none left open), and each flow id's one "s" before its one "f" with "bp":"e".
Timeline Export(const std::string& data, TimelineOptions options = {}) {
  Timeline t;
  auto reader = format::TraceReader::FromSource(format::MakeStringSource(data));
  EXPECT_TRUE(reader.ok()) << reader.status();
  absl::StatusOr<TimelineSummary> summary =
      WriteTimeline(reader->get(), options, [&](absl::string_view chunk) {
        t.text.append(chunk.data(), chunk.size());
        return absl::OkStatus();
      });
  EXPECT_TRUE(summary.ok()) << summary.status();
  EXPECT_TRUE(ValidUtf8(t.text));
  EXPECT_TRUE(JsonParser(t.text).Parse(&t.root)) << "not JSON:\n" << t.text;
  EXPECT_EQ(t.root.Str("displayTimeUnit"), "ns");
  EXPECT_NE(t.root.Get("otherData"), nullptr);
  const Json* events = t.root.Get("traceEvents");
  if (events == nullptr || events->kind != Json::kArray) {
    ADD_FAILURE() << "no traceEvents array";
    return t;
  }
  if (summary.ok()) {
    EXPECT_EQ(summary->json_events, events->items.size());
  }
  for (const Json& j : events->items) {
    Entry e{&j, j.Str("ph"), j.Str("name"), j.Str("cat"), j.Int("tid")};
    EXPECT_EQ(j.Int("pid"), 1) << e.name;
    EXPECT_GE(e.tid, 0) << e.name;
    if (e.ph == "M") {
      if (e.name == "thread_name") t.thread_names[e.tid] = e.Arg("name");
    } else {
      const Json* ts = j.Get("ts");
      std::vector<std::string> parts;
      if (ts != nullptr && ts->kind == Json::kNumber) parts = absl::StrSplit(ts->text, '.');
      int64_t us = 0, frac = 0;
      if (parts.size() == 2 && parts[1].size() == 3 && absl::SimpleAtoi(parts[0], &us) &&
          absl::SimpleAtoi(parts[1], &frac)) {
        e.ts_ns = us * 1000 + frac;
      } else {
        ADD_FAILURE() << "ts is not µs with 3 decimals: " << (ts ? ts->text : "none");
      }
    }
    t.entries.push_back(std::move(e));
  }
  std::map<int64_t, std::vector<const Entry*>> open;
  std::map<int64_t, int64_t> last_ts;
  std::map<int64_t, int> flow_starts, flow_ends;
  for (const Entry& e : t.entries) {
    if (e.ph != "M" && e.ph != "s" && e.ph != "f" && e.ph != "C" && e.ph != "b" && e.ph != "e") {
      EXPECT_TRUE(t.thread_names.contains(e.tid)) << "tid " << e.tid << " has no thread_name";
    }
    if (e.ph == "B" || e.ph == "E") {
      EXPECT_GE(e.ts_ns, last_ts[e.tid]) << e.ph << " " << e.name << " out of order on " << e.tid;
      last_ts[e.tid] = e.ts_ns;
    }
    if (e.ph == "B") open[e.tid].push_back(&e);
    if (e.ph == "E") {
      std::vector<const Entry*>& stack = open[e.tid];
      if (stack.empty()) {
        ADD_FAILURE() << "E " << e.name << " with nothing open on tid " << e.tid;
        continue;
      }
      EXPECT_EQ(stack.back()->name, e.name) << "E does not end the innermost slice";
      stack.pop_back();
    }
    if (e.ph == "s") {
      EXPECT_EQ(++flow_starts[e.json->Int("id")], 1);
      EXPECT_EQ(flow_ends[e.json->Int("id")], 0) << "f before s";
    }
    if (e.ph == "f") {
      EXPECT_EQ(++flow_ends[e.json->Int("id")], 1);
      EXPECT_EQ(e.json->Str("bp"), "e");
    }
  }
  for (const auto& [tid, stack] : open) EXPECT_TRUE(stack.empty()) << "left open on " << tid;
  for (const auto& [id, n] : flow_starts) EXPECT_EQ(flow_ends[id], 1) << "flow " << id;
  EXPECT_EQ(flow_starts.size(), flow_ends.size());
  return t;
}

// The B entries of `cat` on `tid`, as "ts_ns name".
std::vector<std::string> Slices(const Timeline& t, int64_t tid, absl::string_view cat) {
  std::vector<std::string> out;
  for (const Entry* e : t.Where("B", cat, tid)) out.push_back(absl::StrCat(e->ts_ns, " ", e->name));
  return out;
}

// A one-generation trace with the request trace's tables and more strings, built per thread.
enum : uint64_t { kSA = 100, kSB, kSC, kSD, kSAssist, kSDb, kSQueue, kSOdd };
struct Script {
  Script() {
    gb.SetClock({kNsClock, 0, kMono0, kReal0});
    AddRequestTables(&gb);
    for (const auto& [id, s] :
         std::vector<std::pair<uint64_t, const char*>>{{kSA, "A"},
                                                       {kSB, "B"},
                                                       {kSC, "C"},
                                                       {kSD, "D"},
                                                       {kSAssist, "assist"},
                                                       {kSDb, "db"},
                                                       {kSQueue, "queue depth"},
                                                       {kSOdd, "we\"ird\x01 name"}}) {
      gb.AddString(id, s);
    }
  }
  format::EventEncoder& On(uint64_t thread) { return threads.try_emplace(thread, 0).first->second; }
  std::string Build() {
    std::string out;
    format::AppendFileHeader(&out);
    for (auto& [thread, enc] : threads) {
      gb.AddBatch(thread, 0, enc.base_tick(), enc.num_events(), enc.data());
    }
    gb.AppendTo(&out, /*compress=*/false);
    return out;
  }
  format::GenerationBuilder gb{1};
  std::map<uint64_t, format::EventEncoder> threads;
};

// The request trace's first event is at 500 us: every ts below is 500 us earlier than its tick.
constexpr int64_t kFirst = 500'000;
int64_t At(int64_t us) { return us * 1000 - kFirst; }

TEST(TimelineTest, SliceCountsMatchTheScript) {
  const Timeline t = Export(MakeRequestTrace());
  const int64_t main = t.Tid("main T10"), worker = t.Tid("worker T11");
  ASSERT_GE(main, 0);
  ASSERT_GE(worker, 0);
  EXPECT_EQ(t.Tid("worker T11 regions"), worker + 1);
  // The worker's states, one at a time.
  EXPECT_EQ(Slices(t, worker, "state"),
            (std::vector<std::string>{
                absl::StrCat(At(1500), " task 5"), absl::StrCat(At(2000), " blocked mutex"),
                absl::StrCat(At(4000), " runnable"), absl::StrCat(At(4500), " task 5"),
                absl::StrCat(At(4600), " syscall read"), absl::StrCat(At(4800), " task 5"),
                absl::StrCat(At(5200), " blocked mutex"), absl::StrCat(At(5500), " runnable"),
                absl::StrCat(At(5600), " task 5"), absl::StrCat(At(5800), " syscall read"),
                absl::StrCat(At(5900), " task 5")}));
  EXPECT_EQ(Slices(t, main, "state"),
            (std::vector<std::string>{
                absl::StrCat(At(500), " phase gc"), absl::StrCat(At(600), " running"),
                absl::StrCat(At(3000), " phase gc"), absl::StrCat(At(3200), " running"),
                absl::StrCat(At(6100), " blocked sleep"), absl::StrCat(At(7100), " task 50")}));
  // What the script holds: 2 syscalls, 3 blocks, 1 region, 3 process-wide phases.
  int syscalls = 0, blocks = 0;
  for (const Entry* e : t.Where("B", "state")) {
    syscalls += absl::StartsWith(e->name, "syscall ");
    blocks += absl::StartsWith(e->name, "blocked ");
  }
  EXPECT_EQ(syscalls, 2);
  EXPECT_EQ(blocks, 3);
  EXPECT_EQ(Slices(t, worker + 1, "region"),
            (std::vector<std::string>{absl::StrCat(At(1600), " lookup")}));
  EXPECT_EQ(t.Where("B", "region")[0]->Arg("user_task"), "1");
  const std::vector<const Entry*> region_end = t.Where("E", "region");
  ASSERT_EQ(region_end.size(), 1u);
  EXPECT_EQ(region_end[0]->ts_ns, At(5000));
  EXPECT_EQ(Slices(t, 1, "phase"),
            (std::vector<std::string>{absl::StrCat(At(500), " gc"), absl::StrCat(At(3000), " gc"),
                                      absl::StrCat(At(3300), " mark")}));
  EXPECT_EQ(t.Where("B", "phase")[0]->Arg("stop_the_world"), "yes");
  EXPECT_EQ(t.Where("B", "phase")[2]->Arg("stop_the_world"), "no");
  // A blocked slice says on what and where.
  const Entry* blocked = t.Where("B", "state", worker)[1];
  EXPECT_EQ(blocked->Arg("object"), "0xabc");
  EXPECT_EQ(blocked->Arg("task"), "5");
  // User tasks 1-4 as async slices; 4 never ends: closed at the last event (9000 us).
  EXPECT_EQ(t.Where("b", "user_task").size(), 4u);
  const std::vector<const Entry*> ends = t.Where("e", "user_task");
  ASSERT_EQ(ends.size(), 4u);
  EXPECT_EQ(ends.back()->json->Int("id"), 4);
  EXPECT_EQ(ends.back()->ts_ns, At(9000));
  EXPECT_EQ(ends.back()->Arg("open_at_end"), "trace");
  // The trace ends at its last event: the open state slices close there, saying so.
  const std::vector<const Entry*> last = t.Where("E", "state", worker);
  EXPECT_EQ(last.back()->ts_ns, At(9000));
  EXPECT_EQ(last.back()->Arg("open_at_end"), "trace");
}

// For speedscope (a slice's name and args together are its function): the same slices, with
// no args and no task ids, so equal names sum.
TEST(TimelineTest, ForSpeedscopeSlicesHaveNoArgsAndTasksNoIds) {
  const Timeline plain = Export(MakeRequestTrace());
  TimelineOptions options;
  options.speedscope = true;
  const Timeline t = Export(MakeRequestTrace(), options);
  const int64_t worker = t.Tid("worker T11");
  ASSERT_GE(worker, 0);
  EXPECT_EQ(Slices(t, worker, "state"),
            (std::vector<std::string>{
                absl::StrCat(At(1500), " task"), absl::StrCat(At(2000), " blocked mutex"),
                absl::StrCat(At(4000), " runnable"), absl::StrCat(At(4500), " task"),
                absl::StrCat(At(4600), " syscall read"), absl::StrCat(At(4800), " task"),
                absl::StrCat(At(5200), " blocked mutex"), absl::StrCat(At(5500), " runnable"),
                absl::StrCat(At(5600), " task"), absl::StrCat(At(5800), " syscall read"),
                absl::StrCat(At(5900), " task")}));
  size_t slices = 0;
  for (const Entry& e : t.entries) {
    if (e.ph != "B" && e.ph != "E") continue;
    slices += e.ph == "B";
    EXPECT_EQ(e.json->Get("args"), nullptr) << e.ph << " " << e.name;
  }
  EXPECT_EQ(slices, plain.Where("B").size());
  // The rest is as always: flows and user tasks.
  EXPECT_EQ(t.Where("s").size(), plain.Where("s").size());
  EXPECT_EQ(t.Where("b", "user_task").size(), 4u);
}

TEST(TimelineTest, EachWakeupIsAnArrowFromTheWakerToTheWokenTasksNextStart) {
  const Timeline t = Export(MakeRequestTrace());
  const int64_t main = t.Tid("main T10"), worker = t.Tid("worker T11");
  const std::vector<const Entry*> s = t.Where("s"), f = t.Where("f");
  ASSERT_EQ(s.size(), 2u);
  ASSERT_EQ(f.size(), 2u);
  const int64_t unblocks[] = {At(4000), At(5500)}, starts[] = {At(4500), At(5600)};
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(s[i]->json->Int("id"), f[i]->json->Int("id"));
    EXPECT_EQ(s[i]->tid, main) << "the waker's thread";
    EXPECT_EQ(s[i]->ts_ns, unblocks[i]);
    EXPECT_EQ(f[i]->tid, worker);
    EXPECT_EQ(f[i]->ts_ns, starts[i]);
    EXPECT_EQ(s[i]->name, f[i]->name);
    EXPECT_EQ(s[i]->cat, f[i]->cat);
  }
  // "bp":"e" binds the end to the slice enclosing it: the task's running slice, begun there.
  bool bound = false;
  for (const Entry* b : t.Where("B", "state", worker)) {
    bound = bound || (b->ts_ns == starts[0] && b->name == "task 5");
  }
  EXPECT_TRUE(bound);
}

TEST(TimelineTest, TsIsMicrosecondsWithNanosecondPrecision) {
  Script sc;
  sc.On(kMain).Append(EventType::kRegionBegin, 1000, {0, kSA, 0});
  sc.On(kMain).Append(EventType::kRegionEnd, 1'235'567, {0, kSA});
  const Timeline t = Export(sc.Build());
  EXPECT_TRUE(absl::StrContains(t.text, "\"ts\":1234.567")) << t.text;
  EXPECT_TRUE(absl::StrContains(t.text, "\"ts\":0.000"));
  const Json* other = t.root.Get("otherData");
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(other->Int("first_event_mono_ns"), kMono0 + 1000);
}

TEST(TimelineTest, ARegionEndedOutOfOrderClosesAndReopensTheRegionsInsideIt) {
  Script sc;
  format::EventEncoder& m = sc.On(kMain);
  m.Append(EventType::kRegionBegin, 0, {0, kSA, 0});
  m.Append(EventType::kRegionBegin, 200, {0, kSB, 0});
  m.Append(EventType::kRegionEnd, 300, {0, kSA});  // B still open inside A
  m.Append(EventType::kRegionEnd, 400, {0, kSB});
  m.Append(EventType::kRegionEnd, 450, {0, kSD});  // begun before the trace
  m.Append(EventType::kRegionBegin, 500, {0, kSC, 0});
  m.Append(EventType::kCounter, 600, {kSQueue, static_cast<uint64_t>(int64_t{-5})});
  const Timeline t = Export(sc.Build());
  const int64_t regions = t.Tid("main T10 regions");
  ASSERT_GE(regions, 0);
  std::vector<std::string> seq;
  for (const Entry& e : t.entries) {
    if (e.tid == regions && e.ph != "M")
      seq.push_back(absl::StrCat(e.ph, " ", e.name, " ", e.ts_ns));
  }
  EXPECT_EQ(seq, (std::vector<std::string>{"B A 0", "B B 200", "E B 300", "E A 300", "B B 300",
                                           "E B 400", "i end of D 450", "B C 500", "E C 600"}));
  const std::vector<const Entry*> b = t.Where("B", "region");
  EXPECT_EQ(b[2]->Arg("continued"), "true");
  EXPECT_EQ(t.Where("E", "region").back()->Arg("open_at_end"), "trace");
  const std::vector<const Entry*> counters = t.Where("C");
  ASSERT_EQ(counters.size(), 1u);
  EXPECT_EQ(counters[0]->name, "queue depth");
  EXPECT_EQ(counters[0]->Arg("value"), "-5");
}

TEST(TimelineTest, AStopTheWorldPhaseShowsOnEveryThread) {
  Script sc;
  sc.On(kWorker).Append(EventType::kTaskStart, 0, {7, 1});
  sc.On(kMain).Append(EventType::kPhaseBegin, 100, {kSGc, format::kPhaseStopTheWorld});
  sc.On(kMain).Append(EventType::kPhaseEnd, 200, {kSGc});
  sc.On(kWorker).Append(EventType::kPhaseBegin, 300, {kSAssist, format::kPhaseThreadScoped});
  sc.On(kWorker).Append(EventType::kPhaseEnd, 400, {kSAssist});
  sc.On(kWorker).Append(EventType::kTaskEnd, 500, {7});
  const Timeline t = Export(sc.Build());
  EXPECT_EQ(Slices(t, t.Tid("worker T11"), "state"),
            (std::vector<std::string>{"0 task 7", "100 stopped (gc)", "200 task 7",
                                      "300 phase assist", "400 task 7", "500 running"}));
  EXPECT_EQ(Slices(t, t.Tid("main T10"), "state"),
            (std::vector<std::string>{"100 phase gc", "200 running"}));
  EXPECT_EQ(Slices(t, 1, "phase"), (std::vector<std::string>{"100 gc"}));
}

TEST(TimelineTest, AThreadsExitClosesItsTracksAndTheTaskTableNamesWhatRunsAtTheStart) {
  Script sc;
  sc.gb.AddTask(
      {.id = 9, .name = kSWorker, .status = format::TaskStatus::kRunning, .thread = kWorker});
  sc.gb.AddLoss({kWorker, 3, 100, 150});
  sc.On(kWorker).Append(EventType::kRegionBegin, 0, {0, kSA, 0});
  sc.On(kWorker).Append(EventType::kThreadStop, 200, {});
  sc.On(kMain).Append(EventType::kCounter, 300, {kSQueue, 1});
  const Timeline t = Export(sc.Build());
  const int64_t worker = t.Tid("worker T11");
  EXPECT_EQ(Slices(t, worker, "state"), (std::vector<std::string>{"0 worker (task 9)"}));
  const std::vector<const Entry*> ends = t.Where("E", "", worker + 1);
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_EQ(ends[0]->ts_ns, 200);
  EXPECT_EQ(ends[0]->Arg("open_at_end"), "thread exit");
  EXPECT_EQ(t.Where("E", "state", worker).at(0)->ts_ns, 200) << "not left open to the end (300)";
  const std::vector<const Entry*> losses = t.Where("i", "loss");
  ASSERT_EQ(losses.size(), 1u);
  EXPECT_EQ(losses[0]->name, "lost 3 events");
  EXPECT_EQ(losses[0]->ts_ns, 100);
  EXPECT_EQ(losses[0]->Arg("thread"), "11");
}

TEST(TimelineTest, LogsAreInstantsAndArbitraryBytesBecomeValidUtf8) {
  Script sc;
  sc.gb.AddThread({kMain + 5, kSOdd});
  const std::string message = "caf\xc3\xa9 \xff\xfe \x01 \"q\" \xed\xa0\x80 end";
  sc.On(kMain + 5).Append(EventType::kLog, 0, {3, kSDb}, message);
  const Timeline t = Export(sc.Build());
  const std::vector<const Entry*> logs = t.Where("i", "log");
  ASSERT_EQ(logs.size(), 1u);
  EXPECT_EQ(logs[0]->name, "db");
  EXPECT_EQ(logs[0]->Arg("category"), "db");
  EXPECT_EQ(
      logs[0]->Arg("message"),
      "caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd \x01 \"q\" \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd end");
  EXPECT_EQ(logs[0]->Arg("user_task"), "3");
  EXPECT_EQ(logs[0]->json->Str("s"), "t");
  EXPECT_GE(t.Tid("we\"ird\x01 name T15 regions"), 0);
}

// format::AppendJsonString, which every JSON output (the timeline, dump --format=jsonl, stats and
// the analyses' --format=json) writes its strings with.
TEST(TimelineTest, JsonStringsKeepWellFormedUtf8AndReplaceTheRest) {
  auto quote = [](absl::string_view s) {
    std::string out;
    format::AppendJsonString(s, &out);
    return out;
  };
  EXPECT_EQ(quote("a\"b\\c\n\t\x1f"), "\"a\\\"b\\\\c\\n\\t\\u001f\"");
  EXPECT_EQ(quote("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"),
            "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
  const std::string r = "\xef\xbf\xbd";
  EXPECT_EQ(quote("\xc0\x80"), "\"" + r + r + "\"") << "overlong 2-byte";
  EXPECT_EQ(quote("\xe0\x80\x80"), "\"" + r + r + r + "\"") << "overlong 3-byte";
  EXPECT_EQ(quote("\xf0\x80\x80\x80"), "\"" + r + r + r + r + "\"") << "overlong 4-byte";
  EXPECT_EQ(quote("\xed\xa0\x80"), "\"" + r + r + r + "\"") << "a surrogate";
  EXPECT_EQ(quote("\xf4\x90\x80\x80"), "\"" + r + r + r + r + "\"") << "past U+10FFFF";
  EXPECT_EQ(quote("x\xe2\x82"), "\"x" + r + r + "\"") << "cut short";
  EXPECT_TRUE(ValidUtf8(quote("\xf5\xff\x80 \xef\xbf\xbf \xf4\x8f\xbf\xbf")));
}

TEST(TimelineTest, AWindowClipsSlicesAtItsEdgesAndStopsReading) {
  TimelineOptions options;
  options.from_ns = At(2500);  // the worker blocked on the mutex since 2000 us
  options.to_ns = At(4700);    // inside its read syscall (4600-4800 us)
  const Timeline t = Export(MakeRequestTrace(), options);
  const Timeline whole = Export(MakeRequestTrace());
  for (const Entry& e : t.entries) {
    if (e.ph == "M") continue;
    EXPECT_GE(e.ts_ns, options.from_ns) << e.ph << " " << e.name;
    EXPECT_LE(e.ts_ns, options.to_ns) << e.ph << " " << e.name;
  }
  const int64_t worker = t.Tid("worker T11");
  EXPECT_EQ(Slices(t, worker, "state"),
            (std::vector<std::string>{
                absl::StrCat(At(2500), " blocked mutex"), absl::StrCat(At(4000), " runnable"),
                absl::StrCat(At(4500), " task 5"), absl::StrCat(At(4600), " syscall read")}));
  EXPECT_EQ(t.Where("B", "state", worker)[0]->Arg("begun_before_window"), "true");
  const std::vector<const Entry*> region_b = t.Where("B", "region"),
                                  region_e = t.Where("E", "region");
  ASSERT_EQ(region_b.size(), 1u);
  ASSERT_EQ(region_e.size(), 1u);
  EXPECT_EQ(region_b[0]->ts_ns, At(2500));
  EXPECT_EQ(region_b[0]->Arg("begun_before_window"), "true");
  EXPECT_EQ(region_e[0]->ts_ns, At(4700));
  EXPECT_EQ(region_e[0]->Arg("open_at_end"), "window");
  EXPECT_EQ(Slices(t, 1, "phase"), (std::vector<std::string>{absl::StrCat(At(3000), " gc"),
                                                             absl::StrCat(At(3300), " mark")}));
  EXPECT_EQ(t.Where("f").size(), 1u) << "the second wakeup is after the window";
  EXPECT_LT(t.root.Get("otherData")->Int("trace_events_read"),
            whole.root.Get("otherData")->Int("trace_events_read"));
  EXPECT_EQ(t.root.Get("otherData")->Int("window_to_ns"), At(4700));
}

TEST(TimelineTest, OutputIsStreamedInChunksOfAboutTheChunkSize) {
  const Timeline whole = Export(MakeRequestTrace());
  auto reader = format::TraceReader::FromSource(format::MakeStringSource(MakeRequestTrace()));
  ASSERT_TRUE(reader.ok());
  TimelineOptions options;
  options.chunk_bytes = 512;
  std::vector<std::string> chunks;
  absl::StatusOr<TimelineSummary> s =
      WriteTimeline(reader->get(), options, [&](absl::string_view c) {
        chunks.emplace_back(c);
        return absl::OkStatus();
      });
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_GT(chunks.size(), 4u);
  std::string joined;
  for (const std::string& c : chunks) {
    EXPECT_LT(c.size(), 512u + 1024u) << "a chunk is at most one entry past the chunk size";
    joined += c;
  }
  EXPECT_EQ(joined, whole.text);
  EXPECT_EQ(s->bytes, joined.size());
}

TEST(TimelineTest, ASinkErrorStopsTheExportAndIsReturned) {
  auto reader = format::TraceReader::FromSource(format::MakeStringSource(MakeRequestTrace()));
  ASSERT_TRUE(reader.ok());
  TimelineOptions options;
  options.chunk_bytes = 64;
  int calls = 0;
  absl::StatusOr<TimelineSummary> s = WriteTimeline(reader->get(), options, [&](absl::string_view) {
    ++calls;
    return absl::UnavailableError("disk full");
  });
  EXPECT_EQ(s.status(), absl::UnavailableError("disk full"));
  EXPECT_EQ(calls, 1);
}

TEST(TimelineTest, ATruncatedTraceIsTheReadersError) {
  const std::string data = MakeRequestTrace();
  auto reader =
      format::TraceReader::FromSource(format::MakeStringSource(data.substr(0, data.size() - 40)));
  ASSERT_TRUE(reader.ok());
  absl::StatusOr<TimelineSummary> s =
      WriteTimeline(reader->get(), {}, [](absl::string_view) { return absl::OkStatus(); });
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(absl::StrContains(s.status().message(), "offset")) << s.status();
}

TEST(TimelineTest, ABadWindowIsRefused) {
  auto reader = format::TraceReader::FromSource(format::MakeStringSource(MakeRequestTrace()));
  ASSERT_TRUE(reader.ok());
  TimelineOptions options;
  options.from_ns = 2000;
  options.to_ns = 1000;
  absl::StatusOr<TimelineSummary> s =
      WriteTimeline(reader->get(), options, [](absl::string_view) { return absl::OkStatus(); });
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tracer::analysis
