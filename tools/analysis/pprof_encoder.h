// PprofBuilder: a pprof profile (github.com/google/pprof, proto/profile.proto) built sample by
// sample and encoded as the protobuf `go tool pprof` and fleet profilers read, gzipped. A small
// encoder of our own: the profile is five tables and a string table, and the wire format's
// varints and length-delimited fields are all it needs (no libprotobuf, no generated code).
//
// Equal samples (the same locations and labels) are merged: their values add. Memory: the
// distinct samples, locations, functions, mappings and strings: what the profile holds.
// Not thread-safe.

#ifndef TRACER_TOOLS_ANALYSIS_PPROF_ENCODER_H_
#define TRACER_TOOLS_ANALYSIS_PPROF_ENCODER_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace tracer::analysis {

struct PprofValueType {
  std::string type;  // "contentions", "delay", "samples", "cpu"
  std::string unit;  // "count", "nanoseconds"
};

// A sample label: a string value, or a number when `unit` is set ("bytes", "nanoseconds").
struct PprofLabel {
  std::string key;
  std::string str;
  int64_t num = 0;
  std::string num_unit;  // empty: a string label
};

// One function of a location: the innermost first when a location holds inlined functions.
struct PprofLine {
  absl::string_view function;
  absl::string_view file;
  int64_t line = 0;
};

class PprofBuilder {
 public:
  explicit PprofBuilder(std::vector<PprofValueType> sample_types);

  // The mapping's id (1-based), added once per distinct mapping.
  uint64_t Mapping(uint64_t start, uint64_t limit, uint64_t offset, absl::string_view path,
                   absl::string_view build_id);
  // The location's id (1-based), added once per distinct (address, function, file, line,
  // mapping). An empty `function` makes a location with an address only (symbolized later by
  // pprof from the mapping's binary, when it finds it).
  uint64_t Location(uint64_t address, absl::string_view function, absl::string_view file,
                    int64_t line, uint64_t mapping_id) {
    const PprofLine one{function, file, line};
    return Location(address, function.empty() ? absl::Span<const PprofLine>()
                                              : absl::Span<const PprofLine>(&one, 1),
                    mapping_id);
  }
  // A location of several functions, as profile.proto has them: the functions inlined at the
  // address first, the one they were inlined into last. No lines: an address-only location.
  uint64_t Location(uint64_t address, absl::Span<const PprofLine> lines, uint64_t mapping_id);
  // Adds `values` (one per sample type) to the sample of these locations (innermost first) and
  // labels, creating it if new.
  void AddSample(absl::Span<const uint64_t> locations, absl::Span<const PprofLabel> labels,
                 absl::Span<const int64_t> values);

  void set_time_nanos(int64_t ns) { time_nanos_ = ns; }
  void set_duration_nanos(int64_t ns) { duration_nanos_ = ns; }
  void set_period(PprofValueType type, int64_t period) {
    String(type.type);
    String(type.unit);
    period_type_ = std::move(type);
    period_ = period;
  }
  void AddComment(absl::string_view comment) { comments_.push_back(String(comment)); }

  // The samples so far: their locations, labels and summed values.
  struct Sample {
    std::vector<uint64_t> locations;
    std::vector<PprofLabel> labels;
    std::vector<int64_t> values;
  };
  const std::vector<Sample>& samples() const { return samples_; }
  // The function name of a location's line, or "" for an address-only location.
  absl::string_view LocationFunction(uint64_t location_id) const;
  // The lines of a location, innermost (inlined) first; empty for an address-only location.
  // The views live as long as the builder.
  std::vector<PprofLine> LocationLines(uint64_t location_id) const;
  size_t num_sample_types() const { return sample_types_.size(); }

  // The serialized Profile message, uncompressed.
  std::string Encode() const;

 private:
  struct LocationEntry {
    uint64_t address;
    uint64_t mapping;
    std::vector<std::pair<uint64_t, int64_t>> lines;  // (function id, line), innermost first
  };
  struct MappingEntry {
    uint64_t start, limit, offset;
    int64_t path, build_id;  // string indices
    bool has_functions = true;  // every location of it has a function
    bool has_lines = true;      // and a file and line for each function
  };
  int64_t String(absl::string_view s);     // interns s
  int64_t Index(absl::string_view s) const;  // an interned string's index

  std::vector<PprofValueType> sample_types_;
  std::vector<std::string> strings_{""};  // index 0 is "", as profile.proto requires
  absl::flat_hash_map<std::string, int64_t> string_index_{{"", 0}};
  std::vector<MappingEntry> mappings_;
  absl::flat_hash_map<std::string, uint64_t> mapping_index_;
  std::vector<std::pair<int64_t, int64_t>> functions_;  // (name, file) string indices
  absl::flat_hash_map<std::pair<int64_t, int64_t>, uint64_t> function_index_;
  std::vector<LocationEntry> locations_;
  absl::flat_hash_map<std::string, uint64_t> location_index_;
  std::vector<Sample> samples_;
  absl::flat_hash_map<std::string, size_t> sample_index_;
  std::vector<int64_t> comments_;
  int64_t time_nanos_ = 0;
  int64_t duration_nanos_ = 0;
  PprofValueType period_type_;
  int64_t period_ = 0;
};

// `data` gzipped (RFC 1952), as pprof files are stored.
absl::StatusOr<std::string> Gzip(absl::string_view data);

}  // namespace tracer::analysis

#endif  // TRACER_TOOLS_ANALYSIS_PPROF_ENCODER_H_
