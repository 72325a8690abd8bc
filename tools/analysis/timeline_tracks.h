// The output side of the timeline export (timeline.h): Chrome Trace Event JSON entries written
// as they are produced and handed to the sink in chunks, and tracks whose slices nest strictly
// by construction. TimelineWriter (timeline.cc) decides what goes on which track; this decides
// how it is written.
//
// Strict nesting: a track keeps the stack of its open slices. Ending one that has others open
// inside it ends those first ("E" innermost first), then its own, then begins them again with
// "continued":true. While not emitting (outside the --from/--to window) the stacks are kept
// and nothing is written.

#ifndef TRACER_TOOLS_ANALYSIS_TIMELINE_TRACKS_H_
#define TRACER_TOOLS_ANALYSIS_TIMELINE_TRACKS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "tools/analysis/timeline.h"

namespace tracer::analysis::timeline_internal {

// Microseconds with nanosecond precision ("1234.567"). REQUIRES: ns >= 0.
void AppendTs(int64_t ns, std::string* out);
// Args are kept as `,"key":value` items (TrackWriter::Tail makes them an object).
void AddArg(std::string* args, absl::string_view key, absl::string_view text);
void AddNumArg(std::string* args, absl::string_view key, uint64_t v);

// One open slice of a track.
struct Slice {
  std::string name;
  const char* cat = "";
  std::string args;    // `,"key":value` items
  uint64_t owner = 0;  // a phase: the thread that began it
  bool stw = false;    // a stop-the-world phase
  bool continued = false;
};

// One tid: its open slices, outermost first.
struct Track {
  uint64_t tid = 0;
  std::string name;
  bool named = false;  // its thread_name metadata was written
  std::vector<Slice> open;
};

// Not thread-safe. The sink's first error stops the writing; status() returns it.
class TrackWriter {
 public:
  // `speedscope`: TimelineOptions::speedscope (slices without args).
  TrackWriter(const TimelineSink& sink, size_t chunk_bytes, bool speedscope)
      : sink_(sink), chunk_bytes_(chunk_bytes), speedscope_(speedscope) {}

  // Inside the window: Begin, End and CloseAll write their "B"/"E" entries.
  void set_emitting(bool on) { emitting_ = on; }

  void Begin(Track& track, Slice slice, int64_t ts);
  // Ends the slice at `i` and every slice inside it, `end_args` on its own "E", then begins
  // those inside again, continued.
  void End(Track& track, size_t i, int64_t ts, absl::string_view end_args = {});
  // Ends every open slice of the track, `end_args` on each "E".
  void CloseAll(Track& track, int64_t ts, absl::string_view end_args);
  // The entries themselves, written whether emitting or not.
  void EmitB(Track& track, const Slice& s, int64_t ts, absl::string_view extra);
  void EmitE(Track& track, const Slice& s, int64_t ts, absl::string_view extra);
  void EmitInstant(Track& track, absl::string_view name, const char* cat, int64_t ts,
                   absl::string_view args);
  // The track's thread_name and thread_sort_index metadata, once (again after `named` is
  // cleared: a renamed thread).
  void Named(Track& track);
  void Metadata(uint64_t tid, absl::string_view what, absl::string_view arg_key,
                absl::string_view arg_json);

  // Starts a traceEvents entry: {"name":…,"cat":…,"ph":…,"pid":1,"tid":…,"ts":… (the caller
  // may append fields); Tail() ends it with `args` (`,"key":value` items; none: no "args")
  // and hands a full chunk to the sink.
  std::string& Head(absl::string_view name, absl::string_view cat, absl::string_view ph,
                    uint64_t tid, int64_t ts);
  void Tail(absl::string_view args);
  // Text around the entries (the opening and the closing of the JSON object).
  std::string& raw() { return out_; }
  // Hands what is buffered to the sink.
  void Flush();

  const absl::Status& status() const { return status_; }
  uint64_t entries() const { return entries_; }
  uint64_t slices() const { return slices_; }
  uint64_t bytes() const { return bytes_; }

 private:
  const TimelineSink& sink_;
  const size_t chunk_bytes_;
  const bool speedscope_;
  bool emitting_ = false;
  absl::Status status_;
  std::string out_;
  uint64_t entries_ = 0;
  uint64_t slices_ = 0;
  uint64_t bytes_ = 0;
};

}  // namespace tracer::analysis::timeline_internal

#endif  // TRACER_TOOLS_ANALYSIS_TIMELINE_TRACKS_H_
