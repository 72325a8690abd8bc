// Cutting a trace into smaller valid traces at generation boundaries (`tracetool split`): a
// capture too big for a viewer, opened piece by piece. Each piece is the source's file header
// and a run of its generations, byte for byte: generations are self-contained and a file may
// start at any generation (format/FORMAT.md), so every piece reads alone.
//
// Memory: one generation at a time (the reader's), whatever the trace's length.

#ifndef TRACER_TOOLS_ANALYSIS_SPLIT_H_
#define TRACER_TOOLS_ANALYSIS_SPLIT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tracer::analysis {

struct SplitOptions {
  // Exactly one is non-zero: a new piece when the next generation begins this long after the
  // piece's first one (by the spans in the generation headers, which the recorder writes), when the piece holds this many generations, or before the generation
  // that would take it past this many bytes (a generation larger than that is a piece alone).
  int64_t every_ns = 0;
  uint64_t generations = 0;
  uint64_t bytes = 0;
};

struct SplitPiece {
  std::string path;
  uint64_t generations = 0;
  uint64_t bytes = 0;
  int64_t begin_ns = 0, end_ns = 0;  // CLOCK_MONOTONIC span of its generations' events
};

struct SplitResult {
  std::vector<SplitPiece> pieces;
  // The reader's error if the trace is corrupt or truncated: the pieces written before it hold
  // every whole generation before the damage and are valid.
  absl::Status error;
};

// Writes the pieces of `path` as `out_dir`/<name>.000.trace, .001, ... (<name>: the file's name
// without its .trace), with the source file's permission bits. Creates `out_dir` (and its parents) if missing.
// Returns an error (and writes nothing) for bad options, an unreadable source or an unwritable
// directory; a damaged trace comes back in SplitResult::error.
absl::StatusOr<SplitResult> SplitTrace(const std::string& path, const SplitOptions& options,
                                       const std::string& out_dir);

}  // namespace tracer::analysis

#endif  // TRACER_TOOLS_ANALYSIS_SPLIT_H_
