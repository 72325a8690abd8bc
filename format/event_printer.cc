#include "format/event_printer.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tracer::format {
namespace {

std::string PhaseFlagsText(uint64_t flags) {
  std::string s;
  if (flags & kPhaseStopTheWorld) s += "stw";
  if (flags & kPhaseThreadScoped) absl::StrAppend(&s, s.empty() ? "" : "|", "thread");
  return s.empty() ? "none" : s;
}

}  // namespace

void AppendJsonString(absl::string_view s, std::string* out) {
  out->push_back('"');
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': *out += "\\\""; break;
        case '\\': *out += "\\\\"; break;
        case '\n': *out += "\\n"; break;
        case '\r': *out += "\\r"; break;
        case '\t': *out += "\\t"; break;
        default:
          if (c < 0x20) {
            absl::StrAppendFormat(out, "\\u%04x", c);
          } else {
            out->push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    // Multi-byte UTF-8: copy if well-formed, else U+FFFD.
    int len = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (int k = 1; ok && k < len; ++k) {
      ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    }
    if (ok && len == 2 && c < 0xc2) ok = false;  // overlong
    if (ok) {
      out->append(s.data() + i, len);
      i += len;
    } else {
      *out += "\xef\xbf\xbd";
      ++i;
    }
  }
  out->push_back('"');
}

void AppendEventText(const Generation& gen, const Event& e, std::string* out) {
  const EventSpec& spec = e.spec();
  absl::StrAppend(out, gen.TickToMonoNs(e.tick), " T", e.thread, " ", spec.name);
  for (int i = 0; i < spec.num_args; ++i) {
    const ArgSpec& a = spec.args[i];
    const uint64_t v = e.args[i];
    absl::StrAppend(out, " ", a.name, "=");
    switch (a.kind) {
      case ArgKind::kString:
        absl::StrAppend(out, "\"", absl::CHexEscape(gen.String(v)), "\"");
        break;
      case ArgKind::kBytes:
        absl::StrAppend(out, "\"", absl::CHexEscape(e.bytes), "\"");
        break;
      case ArgKind::kReason:
        absl::StrAppend(out, BlockReasonName(static_cast<BlockReason>(v)));
        break;
      case ArgKind::kPhaseFlags:
        absl::StrAppend(out, PhaseFlagsText(v));
        break;
      case ArgKind::kSint:
        absl::StrAppend(out, static_cast<int64_t>(v));
        break;
      default:
        absl::StrAppend(out, v);
    }
  }
}

void AppendEventJson(const Generation& gen, const Event& e, std::string* out) {
  const EventSpec& spec = e.spec();
  absl::StrAppend(out, "{\"ts_ns\":", gen.TickToMonoNs(e.tick),
                  ",\"real_ns\":", gen.TickToRealNs(e.tick), ",\"thread\":", e.thread,
                  ",\"type\":\"", spec.name, "\"");
  for (int i = 0; i < spec.num_args; ++i) {
    const ArgSpec& a = spec.args[i];
    const uint64_t v = e.args[i];
    absl::StrAppend(out, ",\"", a.name, "\":");
    switch (a.kind) {
      case ArgKind::kString:
        AppendJsonString(gen.String(v), out);
        break;
      case ArgKind::kBytes:
        AppendJsonString(e.bytes, out);
        break;
      case ArgKind::kReason:
        absl::StrAppend(out, "\"", BlockReasonName(static_cast<BlockReason>(v)), "\"");
        break;
      case ArgKind::kPhaseFlags:
        absl::StrAppend(out, "\"", PhaseFlagsText(v), "\"");
        break;
      case ArgKind::kSint:
        absl::StrAppend(out, static_cast<int64_t>(v));
        break;
      default:
        absl::StrAppend(out, v);
    }
  }
  out->push_back('}');
}

}  // namespace tracer::format
