// A tiny shared object for symbols_test: built twice, with TRACER_TEST_FUNC naming a different
// function each time, so that the two copies have the same layout.

extern "C" __attribute__((noinline, visibility("default"))) int TRACER_TEST_FUNC(int x) {
  return x * 3 + 1;
}
