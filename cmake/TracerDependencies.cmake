# Finds every dependency from Debian 12's packages and stops with the apt command when one is
# missing. scripts/install-deps.sh installs them all.
find_package(PkgConfig QUIET)

macro(tracer_missing what package)
  message(FATAL_ERROR
    "tracer: ${what} not found. On Debian 12 install it with:\n"
    "    sudo apt-get install ${package}\n"
    "(or run scripts/install-deps.sh, which installs everything the build needs)")
endmacro()

if(NOT PkgConfig_FOUND)
  tracer_missing("pkg-config" "pkg-config")
endif()

find_package(absl CONFIG QUIET)
if(NOT absl_FOUND)
  tracer_missing("abseil (absl)" "libabsl-dev")
endif()

pkg_check_modules(LZ4 QUIET IMPORTED_TARGET liblz4)
if(NOT LZ4_FOUND)
  tracer_missing("lz4" "liblz4-dev")
endif()

find_package(ZLIB QUIET)
if(NOT ZLIB_FOUND)
  tracer_missing("zlib" "zlib1g-dev")
endif()

find_path(CONCURRENTQUEUE_INCLUDE_DIR concurrentqueue/concurrentqueue.h)
if(NOT CONCURRENTQUEUE_INCLUDE_DIR)
  tracer_missing("moodycamel ConcurrentQueue" "libconcurrentqueue-dev")
endif()

set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)

if(TRACER_BUILD_TESTS)
  find_package(GTest CONFIG QUIET)
  if(NOT GTest_FOUND)
    tracer_missing("GoogleTest" "libgtest-dev libgmock-dev")
  endif()
endif()
if(TRACER_BUILD_BENCHMARKS)
  find_package(benchmark CONFIG QUIET)
  if(NOT benchmark_FOUND)
    tracer_missing("Google Benchmark" "libbenchmark-dev")
  endif()
endif()
