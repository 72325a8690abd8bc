// The process-wide string table behind InternString/StringById/InternLabelSet (runtime.h),
// and NewId's id blocks.

#ifndef TRACER_TRACER_INTERNAL_IDS_H_
#define TRACER_TRACER_INTERNAL_IDS_H_

#include "tracer/internal/intern_table.h"

namespace tracer::tracer_internal {

// Strings and label sets (encoded as "k\0v\0..."), made on first use and never freed.
StringTable& Strings();

}  // namespace tracer::tracer_internal

#endif  // TRACER_TRACER_INTERNAL_IDS_H_
