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
    // A well-formed sequence is copied; each byte of anything else becomes U+FFFD: overlong
    // forms, surrogates, code points past U+10FFFF, stray continuation bytes, cut sequences.
    size_t len = 0;
    uint32_t cp = 0, min = 0;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, cp = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4, cp = c & 0x07, min = 0x10000;
    }
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) {
      const unsigned char b = static_cast<unsigned char>(s[i + k]);
      ok = (b & 0xc0) == 0x80;
      cp = (cp << 6) | (b & 0x3f);
    }
    ok = ok && cp >= min && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff);
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
