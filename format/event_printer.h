// Table-driven text and JSON renderings of one event, shared by `tracetool dump` and the
// golden tests. Strings are resolved through the event's generation.

#ifndef TRACER_FORMAT_EVENT_PRINTER_H_
#define TRACER_FORMAT_EVENT_PRINTER_H_

#include <string>

#include "absl/strings/string_view.h"
#include "format/generation.h"

namespace tracer::format {

// "<mono ns> T<thread> <Type> name=value ...", strings quoted and C-escaped.
void AppendEventText(const Generation& gen, const Event& e, std::string* out);

// One JSON object: {"ts_ns":…,"real_ns":…,"thread":…,"type":"…", then each argument by name}.
// Strings are resolved, reasons and flags are names, ids are numbers.
void AppendEventJson(const Generation& gen, const Event& e, std::string* out);

// Appends `s` as a JSON string literal (quotes included) that is valid UTF-8, escaping as
// RFC 8259 requires (control characters as \u escapes); every byte that is not part of a
// well-formed UTF-8 sequence (overlong forms, surrogates and code points past U+10FFFF
// included) becomes U+FFFD.
void AppendJsonString(absl::string_view s, std::string* out);

}  // namespace tracer::format

#endif  // TRACER_FORMAT_EVENT_PRINTER_H_
