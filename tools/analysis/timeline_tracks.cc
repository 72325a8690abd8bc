#include "tools/analysis/timeline_tracks.h"

#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "format/event_printer.h"

namespace tracer::analysis::timeline_internal {

void AppendTs(int64_t ns, std::string* out) {
  absl::StrAppendFormat(out, "%d.%03d", ns / 1000, ns % 1000);
}

void AddArg(std::string* args, absl::string_view key, absl::string_view text) {
  absl::StrAppend(args, ",\"", key, "\":");
  format::AppendJsonString(text, args);
}

void AddNumArg(std::string* args, absl::string_view key, uint64_t v) {
  absl::StrAppend(args, ",\"", key, "\":", v);
}

void TrackWriter::Begin(Track& track, Slice slice, int64_t ts) {
  track.open.push_back(std::move(slice));
  if (emitting_) EmitB(track, track.open.back(), ts, {});
}

void TrackWriter::End(Track& track, size_t i, int64_t ts, absl::string_view end_args) {
  std::vector<Slice>& open = track.open;
  if (emitting_) {
    for (size_t j = open.size(); j-- > i;) EmitE(track, open[j], ts, j == i ? end_args : "");
  }
  std::vector<Slice> inner(std::make_move_iterator(open.begin() + i + 1),
                           std::make_move_iterator(open.end()));
  open.resize(i);
  for (Slice& s : inner) {
    s.continued = true;
    Begin(track, std::move(s), ts);
  }
}

void TrackWriter::CloseAll(Track& track, int64_t ts, absl::string_view end_args) {
  if (emitting_) {
    for (size_t j = track.open.size(); j-- > 0;) EmitE(track, track.open[j], ts, end_args);
  }
  track.open.clear();
}

void TrackWriter::EmitB(Track& track, const Slice& s, int64_t ts, absl::string_view extra) {
  Named(track);
  Head(s.name, s.cat, "B", track.tid, ts);
  if (speedscope_) {
    Tail({});
  } else {
    Tail(absl::StrCat(s.args, s.continued ? ",\"continued\":true" : "", extra));
  }
  ++slices_;
}

void TrackWriter::EmitE(Track& track, const Slice& s, int64_t ts, absl::string_view extra) {
  Head(s.name, s.cat, "E", track.tid, ts);
  Tail(speedscope_ ? absl::string_view() : extra);
}

void TrackWriter::EmitInstant(Track& track, absl::string_view name, const char* cat, int64_t ts,
                              absl::string_view args) {
  Named(track);
  Head(name, cat, "i", track.tid, ts) += ",\"s\":\"t\"";
  Tail(args);
}

void TrackWriter::Named(Track& track) {
  if (track.named) return;
  track.named = true;
  std::string name;
  format::AppendJsonString(track.name, &name);
  Metadata(track.tid, "thread_name", "name", name);
  Metadata(track.tid, "thread_sort_index", "sort_index", absl::StrCat(track.tid));
}

void TrackWriter::Metadata(uint64_t tid, absl::string_view what, absl::string_view arg_key,
                           absl::string_view arg_json) {
  if (entries_++ > 0) out_ += ",\n";
  absl::StrAppend(&out_, "{\"name\":\"", what, "\",\"ph\":\"M\",\"pid\":1,\"tid\":", tid,
                  ",\"args\":{\"", arg_key, "\":", arg_json, "}}");
  if (out_.size() >= chunk_bytes_) Flush();
}

std::string& TrackWriter::Head(absl::string_view name, absl::string_view cat,
                               absl::string_view ph, uint64_t tid, int64_t ts) {
  if (entries_++ > 0) out_ += ",\n";
  out_ += "{\"name\":";
  format::AppendJsonString(name, &out_);
  absl::StrAppend(&out_, ",\"cat\":\"", cat, "\",\"ph\":\"", ph, "\",\"pid\":1,\"tid\":", tid,
                  ",\"ts\":");
  AppendTs(ts, &out_);
  return out_;
}

void TrackWriter::Tail(absl::string_view args) {
  if (!args.empty()) absl::StrAppend(&out_, ",\"args\":{", args.substr(1), "}");
  out_ += '}';
  if (out_.size() >= chunk_bytes_) Flush();
}

void TrackWriter::Flush() {
  if (out_.empty() || !status_.ok()) return;
  status_ = sink_(out_);
  bytes_ += out_.size();
  out_.clear();
}

}  // namespace tracer::analysis::timeline_internal
