#include "tools/analysis/pprof_encoder.h"

#include <zlib.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tracer::analysis {
namespace {

// profile.proto field numbers.
namespace profile {
constexpr int kSampleType = 1, kSample = 2, kMapping = 3, kLocation = 4, kFunction = 5,
              kStringTable = 6, kTimeNanos = 9, kDurationNanos = 10, kPeriodType = 11,
              kPeriod = 12, kComment = 13;
}
namespace value_type {
constexpr int kType = 1, kUnit = 2;
}
namespace sample {
constexpr int kLocationId = 1, kValue = 2, kLabel = 3;
}
namespace label {
constexpr int kKey = 1, kStr = 2, kNum = 3, kNumUnit = 4;
}
namespace mapping {
constexpr int kId = 1, kMemoryStart = 2, kMemoryLimit = 3, kFileOffset = 4, kFilename = 5,
              kBuildId = 6, kHasFunctions = 7, kHasFilenames = 8, kHasLineNumbers = 9;
}
namespace location {
constexpr int kId = 1, kMappingId = 2, kAddress = 3, kLine = 4;
}
namespace line {
constexpr int kFunctionId = 1, kLine = 2;
}
namespace function {
constexpr int kId = 1, kName = 2, kSystemName = 3, kFilename = 4;
}

constexpr int kVarint = 0, kLengthDelimited = 2;

void PutVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
void PutTag(int field, int wire_type, std::string* out) {
  PutVarint(static_cast<uint64_t>(field) << 3 | wire_type, out);
}
// A varint field; zero is the default and is left out, as proto3 writers do.
void PutInt(int field, uint64_t v, std::string* out) {
  if (v == 0) return;
  PutTag(field, kVarint, out);
  PutVarint(v, out);
}
void PutBytes(int field, absl::string_view bytes, std::string* out) {
  PutTag(field, kLengthDelimited, out);
  PutVarint(bytes.size(), out);
  out->append(bytes.data(), bytes.size());
}
// A packed repeated varint field (int64 values as their two's complement, as protobuf does).
template <typename T>
void PutPacked(int field, absl::Span<const T> values, std::string* out) {
  if (values.empty()) return;
  std::string body;
  for (T v : values) PutVarint(static_cast<uint64_t>(v), &body);
  PutBytes(field, body, out);
}

std::string ValueTypeMessage(int64_t type, int64_t unit) {
  std::string m;
  PutInt(value_type::kType, type, &m);
  PutInt(value_type::kUnit, unit, &m);
  return m;
}

}  // namespace

PprofBuilder::PprofBuilder(std::vector<PprofValueType> sample_types)
    : sample_types_(std::move(sample_types)) {
  for (const PprofValueType& t : sample_types_) {
    String(t.type);
    String(t.unit);
  }
}

int64_t PprofBuilder::Index(absl::string_view s) const {
  auto it = string_index_.find(s);
  return it == string_index_.end() ? 0 : it->second;
}

int64_t PprofBuilder::String(absl::string_view s) {
  auto [it, inserted] = string_index_.try_emplace(std::string(s), strings_.size());
  if (inserted) strings_.emplace_back(s);
  return it->second;
}

uint64_t PprofBuilder::Mapping(uint64_t start, uint64_t limit, uint64_t offset,
                               absl::string_view path, absl::string_view build_id) {
  std::string key = absl::StrCat(start, ",", limit, ",", offset, ",", path, ",", build_id);
  auto [it, inserted] = mapping_index_.try_emplace(std::move(key), mappings_.size() + 1);
  if (inserted) mappings_.push_back({start, limit, offset, String(path), String(build_id)});
  return it->second;
}

uint64_t PprofBuilder::Location(uint64_t address, absl::Span<const PprofLine> lines,
                                uint64_t mapping_id) {
  std::string key = absl::StrCat(address, ",", mapping_id);
  for (const PprofLine& l : lines) {
    absl::StrAppend(&key, "\n", l.line, ",", l.function.size(), ",", l.function, l.file);
  }
  auto [it, inserted] = location_index_.try_emplace(std::move(key), locations_.size() + 1);
  if (!inserted) return it->second;
  LocationEntry entry{address, mapping_id, {}};
  for (const PprofLine& l : lines) {
    const std::pair<int64_t, int64_t> f{String(l.function), String(l.file)};
    auto [fit, fnew] = function_index_.try_emplace(f, functions_.size() + 1);
    if (fnew) functions_.push_back(f);
    entry.lines.emplace_back(fit->second, l.line);
    if ((l.file.empty() || l.line == 0) && mapping_id != 0) {
      mappings_[mapping_id - 1].has_lines = false;
    }
  }
  if (lines.empty() && mapping_id != 0) {
    mappings_[mapping_id - 1].has_functions = false;  // pprof may symbolize it from the binary
  }
  locations_.push_back(std::move(entry));
  return it->second;
}

std::vector<PprofLine> PprofBuilder::LocationLines(uint64_t id) const {
  std::vector<PprofLine> out;
  if (id == 0 || id > locations_.size()) return out;
  for (const auto& [function, line] : locations_[id - 1].lines) {
    out.push_back({strings_[functions_[function - 1].first],
                   strings_[functions_[function - 1].second], line});
  }
  return out;
}

absl::string_view PprofBuilder::LocationFunction(uint64_t id) const {
  if (id == 0 || id > locations_.size()) return {};
  const LocationEntry& e = locations_[id - 1];
  return e.lines.empty() ? absl::string_view() : strings_[functions_[e.lines[0].first - 1].first];
}

void PprofBuilder::AddSample(absl::Span<const uint64_t> locations,
                             absl::Span<const PprofLabel> labels,
                             absl::Span<const int64_t> values) {
  std::string key;
  for (uint64_t l : locations) absl::StrAppend(&key, l, ",");
  for (const PprofLabel& l : labels) {
    absl::StrAppend(&key, "\n", l.key, "\x01", l.str, "\x01", l.num, "\x01", l.num_unit);
  }
  auto [it, inserted] = sample_index_.try_emplace(std::move(key), samples_.size());
  if (inserted) {
    for (const PprofLabel& l : labels) {
      String(l.key);
      String(l.str);
      String(l.num_unit);
    }
    Sample s;
    s.locations.assign(locations.begin(), locations.end());
    s.labels.assign(labels.begin(), labels.end());
    s.values.assign(sample_types_.size(), 0);
    samples_.push_back(std::move(s));
  }
  Sample& s = samples_[it->second];
  for (size_t i = 0; i < values.size() && i < s.values.size(); ++i) s.values[i] += values[i];
}

std::string PprofBuilder::Encode() const {
  // Every string was interned when it was added: the tables refer to them by index.
  std::string out;
  for (const PprofValueType& t : sample_types_) {
    PutBytes(profile::kSampleType, ValueTypeMessage(Index(t.type), Index(t.unit)),
             &out);
  }
  for (const Sample& s : samples_) {
    std::string m;
    PutPacked<uint64_t>(sample::kLocationId, s.locations, &m);
    PutPacked<int64_t>(sample::kValue, s.values, &m);
    for (const PprofLabel& l : s.labels) {
      std::string lm;
      PutInt(label::kKey, Index(l.key), &lm);
      if (l.num_unit.empty()) {
        PutInt(label::kStr, Index(l.str), &lm);
      } else {
        PutInt(label::kNum, static_cast<uint64_t>(l.num), &lm);
        PutInt(label::kNumUnit, Index(l.num_unit), &lm);
      }
      PutBytes(sample::kLabel, lm, &m);
    }
    PutBytes(profile::kSample, m, &out);
  }
  for (size_t i = 0; i < mappings_.size(); ++i) {
    const MappingEntry& e = mappings_[i];
    std::string m;
    PutInt(mapping::kId, i + 1, &m);
    PutInt(mapping::kMemoryStart, e.start, &m);
    PutInt(mapping::kMemoryLimit, e.limit, &m);
    PutInt(mapping::kFileOffset, e.offset, &m);
    PutInt(mapping::kFilename, e.path, &m);
    PutInt(mapping::kBuildId, e.build_id, &m);
    PutInt(mapping::kHasFunctions, e.has_functions ? 1 : 0, &m);
    PutInt(mapping::kHasFilenames, e.has_functions && e.has_lines ? 1 : 0, &m);
    PutInt(mapping::kHasLineNumbers, e.has_functions && e.has_lines ? 1 : 0, &m);
    PutBytes(profile::kMapping, m, &out);
  }
  for (size_t i = 0; i < locations_.size(); ++i) {
    const LocationEntry& e = locations_[i];
    std::string m;
    PutInt(location::kId, i + 1, &m);
    PutInt(location::kMappingId, e.mapping, &m);
    PutInt(location::kAddress, e.address, &m);
    for (const auto& [function, line_number] : e.lines) {
      std::string lm;
      PutInt(line::kFunctionId, function, &lm);
      PutInt(line::kLine, static_cast<uint64_t>(line_number), &lm);
      PutBytes(location::kLine, lm, &m);
    }
    PutBytes(profile::kLocation, m, &out);
  }
  for (size_t i = 0; i < functions_.size(); ++i) {
    std::string m;
    PutInt(function::kId, i + 1, &m);
    PutInt(function::kName, functions_[i].first, &m);
    PutInt(function::kSystemName, functions_[i].first, &m);
    PutInt(function::kFilename, functions_[i].second, &m);
    PutBytes(profile::kFunction, m, &out);
  }
  PutInt(profile::kTimeNanos, static_cast<uint64_t>(time_nanos_), &out);
  PutInt(profile::kDurationNanos, static_cast<uint64_t>(duration_nanos_), &out);
  if (!period_type_.type.empty()) {
    PutBytes(profile::kPeriodType,
             ValueTypeMessage(Index(period_type_.type), Index(period_type_.unit)),
             &out);
  }
  PutInt(profile::kPeriod, static_cast<uint64_t>(period_), &out);
  PutPacked<int64_t>(profile::kComment, comments_, &out);
  // The string table last: a protobuf message's fields may come in any order.
  for (const std::string& s : strings_) PutBytes(profile::kStringTable, s, &out);
  return out;
}

absl::StatusOr<std::string> Gzip(absl::string_view data) {
  z_stream z{};
  // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    return absl::InternalError("zlib: deflateInit2 failed");
  }
  std::string out(deflateBound(&z, data.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  const size_t n = z.total_out;
  deflateEnd(&z);
  if (rc != Z_STREAM_END) return absl::InternalError(absl::StrCat("zlib: deflate failed (", rc, ")"));
  out.resize(n);
  return out;
}

}  // namespace tracer::analysis
