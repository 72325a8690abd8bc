// BatchEventReader and the shape decoders behind its fast path.

#include "format/batch_event_reader.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <utility>

#include "absl/base/optimization.h"
#include "absl/strings/str_format.h"
#include "format/constants.h"
#include "format/internal/varint.h"

namespace tracer::format_internal {

using format::Generation;

// The decoder's table look-ups. kFull: as Generation's own (HasString, ...). Otherwise the
// dense array only, inline: false may also mean a sparse id, which the caller must look up in
// full (DecodeRun stops there, and BatchEventReader decodes the event with kFull).
struct GenerationIndexAccess {
  template <bool kFull>
  static bool HasString(const Generation& g, uint64_t id) {
    return id == 0 || (kFull ? g.string_index_.Find(id) : g.string_index_.FindDense(id)) >= 0;
  }
  template <bool kFull>
  static bool HasStack(const Generation& g, uint64_t id) {
    return (kFull ? g.stack_index_.Find(id) : g.stack_index_.FindDense(id)) >= 0;
  }
  // Label sets are rare in events: always the full look-up, out of line (FindLabelSet), which
  // keeps DecodeRun's register allocation as it was before sparse ids.
  template <bool kFull>
  static bool HasLabelSet(const Generation& g, uint64_t id) {
    return g.FindLabelSet(id) != nullptr;
  }
};

// What the decoder needs per type byte, flattened from the event table so the per-event path
// makes no call and chases no pointer into EventSpec.
struct DecodeTypeInfo {
  bool valid = false;
  uint8_t num_args = 0;
  bool plain = false;  // every argument is kId or kUint: nothing to check but the varint
  format::ArgKind kinds[format::kMaxEventArgs] = {};
  uint8_t shape = 0xff;  // the event table's argument shape: its index in kShapes, or 0xff
};

}  // namespace tracer::format_internal

namespace tracer::format {

using format_internal::DecodeTypeInfo;
using format_internal::DecodeVarint;
using format_internal::GenerationIndexAccess;
using format_internal::UnZigZag;

namespace {

// The argument shapes of the event table (kUint is decoded as kId: neither is checked). A
// type whose shape is not here decodes through the generic loop, only slower: this list is
// a speed-up, not a second copy of the format.
struct Shape {
  int n;
  ArgKind kinds[kMaxEventArgs];
};
using K = ArgKind;
constexpr Shape kShapes[] = {
    {0, {}},
    {1, {K::kId}},
    {2, {K::kId, K::kId}},
    {3, {K::kId, K::kId, K::kId}},
    {1, {K::kString}},
    {2, {K::kId, K::kString}},
    {2, {K::kString, K::kStack}},
    {2, {K::kString, K::kPhaseFlags}},
    {2, {K::kString, K::kSint}},
    {2, {K::kId, K::kStack}},
    {2, {K::kId, K::kLabelSet}},
    {3, {K::kId, K::kString, K::kStack}},
    {3, {K::kId, K::kString, K::kBytes}},
    {4, {K::kId, K::kReason, K::kId, K::kStack}},
    {4, {K::kId, K::kId, K::kString, K::kStack}},
    {5, {K::kId, K::kId, K::kId, K::kId, K::kStack}},
    {5, {K::kId, K::kId, K::kString, K::kLabelSet, K::kStack}},
};
constexpr size_t kNumShapes = sizeof(kShapes) / sizeof(kShapes[0]);

// kChecked (BatchEventReader, hence event validation): overlong varints are refused and ids
// are looked up in full. Otherwise (the merge's DecodeRun, which hands anything it refuses to
// the checked path): varints are not checked for overlong encodings and ids are looked up in
// the dense array only, so that the hottest loop holds no call (a sparse id goes the checked
// way).
template <bool kChecked, size_t S, size_t I>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool DecodeShapeArg(const Generation& gen, const char*& q,
                                                        const char* end, Event* e) {
  constexpr ArgKind kind = kShapes[S].kinds[I];
  uint64_t v;
  q = format_internal::DecodeVarintPredicted</*kCanonical=*/kChecked>(q, &v);
  if (ABSL_PREDICT_FALSE(q == nullptr)) return false;
  if constexpr (kind == ArgKind::kSint) {
    v = static_cast<uint64_t>(UnZigZag(v));
  } else if constexpr (kind == ArgKind::kString) {
    if (ABSL_PREDICT_FALSE(!GenerationIndexAccess::HasString<kChecked>(gen, v))) return false;
  } else if constexpr (kind == ArgKind::kStack) {
    if (ABSL_PREDICT_FALSE(v != 0 && !GenerationIndexAccess::HasStack<kChecked>(gen, v))) {
      return false;
    }
  } else if constexpr (kind == ArgKind::kLabelSet) {
    if (ABSL_PREDICT_FALSE(v != 0 && !GenerationIndexAccess::HasLabelSet<kChecked>(gen, v))) {
      return false;
    }
  } else if constexpr (kind == ArgKind::kReason) {
    if (ABSL_PREDICT_FALSE(v >= static_cast<uint64_t>(BlockReason::kNumBlockReasons))) {
      return false;
    }
  } else if constexpr (kind == ArgKind::kPhaseFlags) {
    if (ABSL_PREDICT_FALSE((v & ~static_cast<uint64_t>(kPhaseKnownFlags)) != 0)) return false;
  } else if constexpr (kind == ArgKind::kBytes) {
    if (ABSL_PREDICT_FALSE(v > static_cast<uint64_t>(end - q))) return false;
    e->bytes = absl::string_view(q, v);
    q += v;
  }
  e->args[I] = v;
  return true;
}

template <bool kChecked, size_t S, size_t... I>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline const char* DecodeShapeImpl([[maybe_unused]] const Generation& gen, const char* q,
                            [[maybe_unused]] const char* end, Event* e,
                            std::index_sequence<I...>) {
  e->bytes = {};
  if (!(DecodeShapeArg<kChecked, S, I>(gen, q, end, e) && ...)) return nullptr;
  return q;
}

size_t FindShape(const EventSpec& spec) {
  for (size_t s = 0; s < kNumShapes; ++s) {
    if (kShapes[s].n != spec.num_args) continue;
    bool match = true;
    for (int a = 0; a < spec.num_args; ++a) {
      const ArgKind k = spec.args[a].kind == ArgKind::kUint ? ArgKind::kId : spec.args[a].kind;
      match = match && k == kShapes[s].kinds[a];
    }
    if (match) return s;
  }
  return kNumShapes;
}

// The shape decoders behind one switch, inlined into the block decoder's loop: no call, and
// the loop's state stays in registers.
static_assert(kNumShapes == 17, "add the new shapes' cases below");
template <bool kChecked>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline const char* DecodeShapeById(uint8_t shape,
                                                                const Generation& gen,
                                                                const char* q, const char* end,
                                                                Event* e) {
  switch (shape) {
#define TRACER_SHAPE_CASE(S)                                                             \
  case S:                                                                                \
    return DecodeShapeImpl<kChecked, S>(gen, q, end, e,                                 \
                                          std::make_index_sequence<kShapes[S].n>());
    TRACER_SHAPE_CASE(0)
    TRACER_SHAPE_CASE(1)
    TRACER_SHAPE_CASE(2)
    TRACER_SHAPE_CASE(3)
    TRACER_SHAPE_CASE(4)
    TRACER_SHAPE_CASE(5)
    TRACER_SHAPE_CASE(6)
    TRACER_SHAPE_CASE(7)
    TRACER_SHAPE_CASE(8)
    TRACER_SHAPE_CASE(9)
    TRACER_SHAPE_CASE(10)
    TRACER_SHAPE_CASE(11)
    TRACER_SHAPE_CASE(12)
    TRACER_SHAPE_CASE(13)
    TRACER_SHAPE_CASE(14)
    TRACER_SHAPE_CASE(15)
    TRACER_SHAPE_CASE(16)
#undef TRACER_SHAPE_CASE
    default:
      return nullptr;
  }
}

// An event starting at least this far before the end of its batch has all its varints (the
// delta and up to kMaxEventArgs arguments, at most ten bytes each, after the type byte), plus
// the eight bytes DecodeVarintLong loads, readable without bounds checks.
constexpr ptrdiff_t kFastMargin = 1 + (1 + kMaxEventArgs) * format_internal::kMaxVarintBytes + 8;

const DecodeTypeInfo* DecodeTypeInfos() {
  static const DecodeTypeInfo* const table = [] {
    auto* t = new DecodeTypeInfo[256];
    for (int i = 0; i < 256; ++i) {
      const EventSpec* spec = FindEventSpec(static_cast<uint8_t>(i));
      if (spec == nullptr) continue;
      t[i].valid = true;
      t[i].num_args = static_cast<uint8_t>(spec->num_args);
      t[i].plain = true;
      for (int a = 0; a < spec->num_args; ++a) {
        t[i].kinds[a] = spec->args[a].kind;
        if (spec->args[a].kind != ArgKind::kId && spec->args[a].kind != ArgKind::kUint) {
          t[i].plain = false;
        }
      }
      const size_t shape = FindShape(*spec);
      t[i].shape = shape < kNumShapes ? static_cast<uint8_t>(shape) : uint8_t{0xff};
    }
    return t;
  }();
  return table;
}

// The common run of DecodeBlock: events far from the end of the batch, of a type with a shape
// decoder, that decode cleanly. Stops before anything else (the end, an error, a type without
// a shape), which BatchEventReader::NextImpl then decodes again and reports exactly. Flattened:
// the table look-ups (FindStack, ...) must not stay calls in the hottest loop. It does not
// check that varints are minimal (that would cost a compare per varint): TraceReader's event
// validation did, unless the tool turned it off.
__attribute__((flatten)) size_t DecodeRun(const DecodeTypeInfo* types, const Generation& gen,
                                          const char* end, uint64_t thread, Event* out,
                                          size_t room, const char** p_io, uint64_t* tick_io) {
  const char* p = *p_io;
  uint64_t tick = *tick_io;
  size_t n = 0;
  while (n < room && end - p >= kFastMargin) {
    const uint8_t type = static_cast<uint8_t>(*p);
    const uint8_t shape = types[type].shape;  // 0xff for invalid types too
    if (ABSL_PREDICT_FALSE(shape == 0xff)) break;
    uint64_t delta;
    const char* q = format_internal::DecodeVarintPredicted</*kCanonical=*/false>(p + 1, &delta);
    if (ABSL_PREDICT_FALSE(q == nullptr || delta > UINT64_MAX - tick)) break;
    Event* const e = out + n;
    const uint64_t t = tick + delta;
    e->type = static_cast<EventType>(type);
    e->thread = thread;
    e->tick = t;
    q = DecodeShapeById</*kChecked=*/false>(shape, gen, q, end, e);
    if (ABSL_PREDICT_FALSE(q == nullptr)) break;
    p = q;
    tick = t;
    ++n;
  }
  *p_io = p;
  *tick_io = tick;
  return n;
}

}  // namespace

BatchEventReader::BatchEventReader(const Generation& gen, size_t batch_index)
    : gen_(&gen), types_(DecodeTypeInfos()), batch_index_(batch_index) {
  const Batch& b = gen.batches[batch_index];
  begin_ = p_ = b.events.data();
  end_ = begin_ + b.events.size();
  tick_ = b.base_tick;
  thread_ = b.thread;
  num_events_ = b.num_events;
}

bool BatchEventReader::Fail(const char* what, uint64_t detail) {
  const Batch& b = gen_->batches[batch_index_];
  const uint64_t payload_off = b.payload_offset + (p_ - begin_);
  std::string pos =
      gen_->compressed
          ? absl::StrFormat("payload offset %d (in the lz4-decompressed payload)", payload_off)
          : absl::StrFormat("file offset %d",
                            gen_->file_offset + gen_->header_size + payload_off);
  status_ = absl::DataLossError(absl::StrFormat(
      "generation %d at file offset %d, batch %d (thread %d), event %d at %s: %s %d", gen_->seq,
      gen_->file_offset, batch_index_, b.thread, decoded_, pos, what, detail));
  p_ = end_;
  return false;
}

bool BatchEventReader::PeekTick(uint64_t* tick) const {
  if (p_ >= end_) {
    *tick = tick_;
    // Next() reports the shortfall (a count still unknown has none)
    return status_.ok() && decoded_ != num_events_ && num_events_ != kUnknownEventCount;
  }
  uint64_t delta;
  const char* q = DecodeVarint(p_ + 1, end_, &delta);
  *tick = q == nullptr || delta > UINT64_MAX - tick_ ? tick_ : tick_ + delta;
  return true;
}

// The end of the batch, or more events than declared.
bool BatchEventReader::NextSlow(Event* e) {
  (void)e;
  if (p_ >= end_) {
    if (status_.ok() && decoded_ != num_events_ && num_events_ != kUnknownEventCount) {
      return Fail("batch ends early: events decoded vs declared", num_events_);
    }
    return false;
  }
  return Fail("batch holds more events than declared", decoded_);
}

template <bool kFast>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline const char* BatchEventReader::DecodeArgs(
    const DecodeTypeInfo& info, const char* q, Event* e) {
  if constexpr (kFast) {
    if (ABSL_PREDICT_TRUE(info.shape != 0xff)) {
      const char* r = DecodeShapeById</*kChecked=*/true>(info.shape, *gen_, q, end_, e);
      if (ABSL_PREDICT_TRUE(r != nullptr)) return r;
      return DecodeArgs<false>(info, q, e);  // to report exactly what is wrong
    }
  }
  auto varint = [&](const char* at, uint64_t* v) {
    return kFast ? format_internal::DecodeVarintFast</*kCanonical=*/true>(at, v)
                 : DecodeVarint(at, end_, v);
  };
  const int n = info.num_args;
  e->bytes = {};
  auto fail_varint = [&](const char* at, int i) {
    Fail(format_internal::IsOverlongVarint(at, end_)
             ? "overlong (non-canonical) argument varint, argument"
             : "truncated or bad argument varint, argument",
         i);
    return nullptr;
  };
  if (info.plain) {
    for (int i = 0; i < n; ++i) {
      const char* at = q;
      q = varint(q, &e->args[i]);
      if (ABSL_PREDICT_FALSE(q == nullptr)) return fail_varint(at, i);
    }
    return q;
  }
  for (int i = 0; i < n; ++i) {
    uint64_t v;
    const char* at = q;
    q = varint(q, &v);
    if (ABSL_PREDICT_FALSE(q == nullptr)) return fail_varint(at, i);
    switch (info.kinds[i]) {
      case ArgKind::kId:
      case ArgKind::kUint:
        break;
      case ArgKind::kSint:
        v = static_cast<uint64_t>(UnZigZag(v));
        break;
      case ArgKind::kString:
        if (ABSL_PREDICT_FALSE(!gen_->HasString(v))) {
          Fail("undefined string id", v);
          return nullptr;
        }
        break;
      case ArgKind::kStack:
        if (ABSL_PREDICT_FALSE(v != 0 && gen_->FindStack(v) == nullptr)) {
          Fail("undefined stack id", v);
          return nullptr;
        }
        break;
      case ArgKind::kLabelSet:
        if (ABSL_PREDICT_FALSE(v != 0 && gen_->FindLabelSet(v) == nullptr)) {
          Fail("undefined label set", v);
          return nullptr;
        }
        break;
      case ArgKind::kReason:
        if (ABSL_PREDICT_FALSE(v >= static_cast<uint64_t>(BlockReason::kNumBlockReasons))) {
          Fail("invalid block reason", v);
          return nullptr;
        }
        break;
      case ArgKind::kPhaseFlags:
        if (ABSL_PREDICT_FALSE((v & ~static_cast<uint64_t>(kPhaseKnownFlags)) != 0)) {
          Fail("unknown phase flags", v);
          return nullptr;
        }
        break;
      case ArgKind::kBytes:
        if (ABSL_PREDICT_FALSE(v > static_cast<uint64_t>(end_ - q))) {
          Fail("inline bytes overrun, length", v);
          return nullptr;
        }
        e->bytes = absl::string_view(q, v);
        q += v;
        break;
    }
    e->args[i] = v;
  }
  return q;
}

// Hot path: every check stays, but the common event (known type, short varints, ids that
// resolve) goes through without a call or a table walk, and without bounds checks per varint
// when the event starts far enough from the end of its batch.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool BatchEventReader::NextImpl(Event* e) {
  if (ABSL_PREDICT_FALSE(p_ >= end_ || decoded_ == num_events_)) return NextSlow(e);
  const uint8_t type = static_cast<uint8_t>(*p_);
  const DecodeTypeInfo& info = types_[type];
  if (ABSL_PREDICT_FALSE(!info.valid)) return Fail("unknown event type", type);
  const bool fast = end_ - p_ >= kFastMargin;
  uint64_t delta;
  const char* q = fast ? format_internal::DecodeVarintFast</*kCanonical=*/true>(p_ + 1, &delta)
                       : DecodeVarint(p_ + 1, end_, &delta);
  if (ABSL_PREDICT_FALSE(q == nullptr)) {
    return Fail(format_internal::IsOverlongVarint(p_ + 1, end_)
                    ? "overlong (non-canonical) timestamp varint in event of type"
                    : "bad timestamp varint in event of type",
                type);
  }
  if (ABSL_PREDICT_FALSE(delta > UINT64_MAX - tick_)) return Fail("timestamp overflows, delta", delta);
  const uint64_t tick = tick_ + delta;
  e->type = static_cast<EventType>(type);
  e->thread = thread_;
  e->tick = tick;
  q = fast ? DecodeArgs<true>(info, q, e) : DecodeArgs<false>(info, q, e);
  if (ABSL_PREDICT_FALSE(q == nullptr)) return false;
  p_ = q;
  tick_ = tick;
  ++decoded_;
  return true;
}

bool BatchEventReader::Next(Event* e) { return NextImpl(e); }

size_t BatchEventReader::DecodeBlock(Event* out, size_t max) {
  // DecodeRun takes the common events; NextImpl the rest (and reports errors exactly).
  size_t n = 0;
  {
    const char* p = p_;
    uint64_t tick = tick_;
    const size_t room = static_cast<size_t>(
        std::min<uint64_t>(max, num_events_ - decoded_));  // decoded_ <= num_events_
    n = DecodeRun(types_, *gen_, end_, thread_, out, room, &p, &tick);
    p_ = p;
    tick_ = tick;
    decoded_ += n;
  }
  while (n < max && NextImpl(out + n)) ++n;
  return n;
}

bool BatchEventReader::LoadHeader() {
  if (p_ >= end_ || decoded_ == num_events_) return false;
  const uint8_t type = static_cast<uint8_t>(*p_);
  if (!types_[type].valid) return false;
  uint64_t delta;
  const char* q = DecodeVarint(p_ + 1, end_, &delta);
  if (q == nullptr || delta > UINT64_MAX - tick_) return false;
  hdr_tick_ = tick_ + delta;
  return true;
}

}  // namespace tracer::format
