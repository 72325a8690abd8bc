// Every constant of the wire format. FORMAT.md explains each one; keep the two in step.

#ifndef TRACER_FORMAT_CONSTANTS_H_
#define TRACER_FORMAT_CONSTANTS_H_

#include <cstddef>
#include <cstdint>

namespace tracer::format {

// File header: magic, u16 major, u16 minor, u32 flags (little-endian).
inline constexpr char kFileMagic[8] = {'\x89', 'T', 'R', 'C', '\r', '\n', '\x1a', '\n'};
inline constexpr size_t kFileHeaderSize = 16;
// Major: a reader refuses files with a larger major version. Minor: additions a reader of the
// same major can skip (new section kinds, new generation-header flags in the ignorable range).
inline constexpr uint16_t kVersionMajor = 2;
inline constexpr uint16_t kVersionMinor = 0;
// File-header flags. None is defined in 1.0. The high half is for advisory flags a later minor
// version may define: a reader ignores them. A bit of the low half would change how the file
// must be read: a reader refuses a file with one it does not know (only a new major adds them).
inline constexpr uint32_t kFileFlagsKnown = 0;               // bits a 1.0 reader understands
inline constexpr uint32_t kFileFlagsIgnorable = 0xffff0000;  // bits a reader may ignore

// Generation header (see FORMAT.md "Generation header"). Writers write kGenerationHeaderSize
// bytes; readers accept a header_size at least that large (a later minor version may append
// fields) and skip what they do not know.
inline constexpr uint32_t kGenerationMagic = 0x4e454754;  // "TGEN" in file order
inline constexpr size_t kGenerationHeaderSize = 56;
inline constexpr uint16_t kGenFlagLz4 = 1 << 0;          // payload is one LZ4 block
// 2.0: written by a crash handler: never compressed; may hold crash batches (section 12),
// whose bodies the payload checksum leaves out (each has its own).
inline constexpr uint16_t kGenFlagCrash = 1 << 1;
inline constexpr uint16_t kGenFlagsKnown = kGenFlagLz4 | kGenFlagCrash;  // bits 2.0 understands
inline constexpr uint16_t kGenFlagsIgnorable = 0xff00;   // bits a reader may ignore

// Payload section kinds.
enum class SectionKind : uint8_t {
  kClock = 1,
  kStrings = 2,
  kStacks = 3,
  kThreads = 4,
  kTasks = 5,
  kLabelSets = 6,
  kLosses = 7,
  kMappings = 8,
  kBatch = 9,
  kUserTasks = 10,
  kLiveTasks = 11,   // 2.0: the live-task listing that ends a dump
  kCrashBatch = 12,  // 2.0: a batch a crash handler copied from a live buffer, checked alone
};

// Reader limits: anything larger is reported as corrupt rather than allocated.
inline constexpr uint32_t kMaxPayloadBytes = 1u << 30;  // per generation, raw or stored
inline constexpr uint64_t kMaxTableId = (1u << 22) - 1; // string, stack and label-set ids
inline constexpr uint64_t kMaxStackFrames = 256;
inline constexpr uint64_t kMaxLabelsPerSet = 64;

}  // namespace tracer::format

#endif  // TRACER_FORMAT_CONSTANTS_H_
