// libFuzzer target for the trace reader. Build with clang and -DTRACER_BUILD_FUZZERS=ON; run
// with the checked-in seeds:  ./trace_reader_fuzzer tests/fuzz/corpus -max_total_time=300
// The body is shared with tests/format/fuzz_corpus_test.cc.

#include <cstddef>
#include <cstdint>

#include "tests/fuzz/trace_reader_fuzz_body.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tracer::format::fuzzing::RunTraceReaderFuzzBody(data, size);
  return 0;
}
