# Finds every dependency from Debian 12's packages and stops with the apt command when one is
# missing. scripts/install-deps.sh installs them all.
#
# Imported targets for the layers to link:
#   absl::*, Threads::Threads, ZLIB::ZLIB, PkgConfig::LZ4 (liblz4), PkgConfig::LIBUNWIND
#   (libunwind-generic), PkgConfig::LIBDW (libdw), concurrentqueue::concurrentqueue (header-only),
#   GTest::gtest/gmock, benchmark::benchmark, CLI11::CLI11 (tools).
# The installed package config finds again whatever the exported targets link (see
# TracerInstall.cmake); a pkg-config module must be found with tracer_pkg_module() for that.
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

# tracer_pkg_module(<PREFIX> <pkg-config module> <Debian package>): imported target
# PkgConfig::<PREFIX>, remembered for the installed package config.
macro(tracer_pkg_module prefix module package)
  pkg_check_modules(${prefix} QUIET IMPORTED_TARGET ${module})
  if(NOT ${prefix}_FOUND)
    tracer_missing("${module} (pkg-config module)" "${package}")
  endif()
  set_property(GLOBAL APPEND PROPERTY TRACER_PKG_MODULES "${prefix}|${module}|${package}")
endmacro()

find_package(absl CONFIG QUIET)
if(NOT absl_FOUND)
  tracer_missing("abseil (absl)" "libabsl-dev")
endif()

tracer_pkg_module(LZ4 liblz4 liblz4-dev)
tracer_pkg_module(LIBUNWIND libunwind-generic libunwind-dev)
tracer_pkg_module(LIBDW libdw libdw-dev)

find_package(ZLIB QUIET)
if(NOT ZLIB_FOUND)
  tracer_missing("zlib" "zlib1g-dev")
endif()

find_path(CONCURRENTQUEUE_INCLUDE_DIR concurrentqueue/concurrentqueue.h)
if(NOT CONCURRENTQUEUE_INCLUDE_DIR)
  tracer_missing("moodycamel ConcurrentQueue" "libconcurrentqueue-dev")
endif()
if(NOT TARGET concurrentqueue::concurrentqueue)
  # Debian ships no CMake config for it; the name is upstream's. Headers are included as
  # <concurrentqueue/concurrentqueue.h>.
  add_library(concurrentqueue::concurrentqueue INTERFACE IMPORTED)
  set_target_properties(concurrentqueue::concurrentqueue PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${CONCURRENTQUEUE_INCLUDE_DIR}")
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
if(TRACER_BUILD_TOOLS)
  find_package(CLI11 CONFIG QUIET)
  if(NOT CLI11_FOUND)
    tracer_missing("CLI11" "libcli11-dev")
  endif()
endif()
if(TRACER_BUILD_FUZZERS)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "tracer: TRACER_BUILD_FUZZERS needs clang (libFuzzer). Configure with\n"
      "    CC=clang CXX=clang++ cmake -DTRACER_BUILD_FUZZERS=ON ...\n"
      "after: sudo apt-get install clang libclang-rt-14-dev")
  endif()
  include(CheckCXXSourceCompiles)
  set(CMAKE_REQUIRED_FLAGS "-fsanitize=fuzzer")
  set(CMAKE_REQUIRED_LINK_OPTIONS "-fsanitize=fuzzer")
  check_cxx_source_compiles([[
    #include <cstddef>
    #include <cstdint>
    extern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }
  ]] TRACER_HAVE_LIBFUZZER)
  unset(CMAKE_REQUIRED_FLAGS)
  unset(CMAKE_REQUIRED_LINK_OPTIONS)
  if(NOT TRACER_HAVE_LIBFUZZER)
    tracer_missing("libFuzzer (clang's -fsanitize=fuzzer runtime)" "clang libclang-rt-14-dev")
  endif()
endif()
