#include "format/event_stream.h"

#include <utility>

namespace tracer::format {

const Event* EventStream::Next() {
  for (;;) {
    if (!status_.ok()) return nullptr;
    if (merged_ != nullptr) {
      if (const Event* e = merged_->Next()) return e;
      if (!merged_->status().ok()) {
        status_ = merged_->status();
        return nullptr;
      }
    }
    absl::StatusOr<std::shared_ptr<const Generation>> g = reader_->Next();
    if (!g.ok()) {
      status_ = g.status();
      return nullptr;
    }
    if (*g == nullptr) return nullptr;
    merged_.reset();
    gen_ = std::move(*g);
    merged_ = std::make_unique<MergedGenerationReader>(*gen_);
  }
}

}  // namespace tracer::format
