# Driven by the install_consumer test (see CMakeLists.txt): install, then build and run a
# consumer project against the installed tree only. Any failing step is a FATAL_ERROR.
foreach(v TRACER_BINARY_DIR CONSUMER_SOURCE_DIR WORK_DIR GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "run_install_test.cmake: -D${v}=... is required")
  endif()
endforeach()

set(prefix "${WORK_DIR}/prefix")
set(build "${WORK_DIR}/build")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

function(run_step name)
  string(TIMESTAMP start "%s")
  message(STATUS "install test: ${name}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  string(TIMESTAMP end "%s")
  math(EXPR secs "${end} - ${start}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install test: step '${name}' failed (${rc}) after ${secs}s:\n${out}")
  endif()
  message(STATUS "install test: ${name}: done in ${secs}s")
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

set(config_args "")
if(CONFIG)
  set(config_args --config "${CONFIG}")
endif()
run_step("cmake --install into ${prefix}"
  "${CMAKE_COMMAND}" --install "${TRACER_BINARY_DIR}" --prefix "${prefix}" ${config_args})

# What a user expects to find.
file(GLOB_RECURSE config_file "${prefix}/*/tracerConfig.cmake")
foreach(f
    include/tracer/format/trace_reader.h
    include/tracer/format/trace_writer.h
    include/tracer/format/internal/varint.h)
  if(NOT EXISTS "${prefix}/${f}")
    message(FATAL_ERROR "install test: ${f} was not installed")
  endif()
endforeach()
if(NOT config_file)
  message(FATAL_ERROR "install test: no tracerConfig.cmake under ${prefix}")
endif()

set(make_args "")
if(MAKE_PROGRAM)
  set(make_args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
set(build_type_args "")
if(CONFIG)
  set(build_type_args "-DCMAKE_BUILD_TYPE=${CONFIG}")
endif()
# Only the scratch prefix: no package registry, no build tree of ours.
run_step("configure the consumer"
  "${CMAKE_COMMAND}" -S "${CONSUMER_SOURCE_DIR}" -B "${build}" -G "${GENERATOR}" ${make_args}
  "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
  "-DCMAKE_EXE_LINKER_FLAGS=${CXX_FLAGS}" ${build_type_args}
  "-DCMAKE_PREFIX_PATH=${prefix}" "-DTRACER_EXPECTED_PREFIX=${prefix}"
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON)
run_step("build the consumer" "${CMAKE_COMMAND}" --build "${build}" ${config_args})

find_program(consumer_exe consumer PATHS "${build}" "${build}/${CONFIG}" NO_DEFAULT_PATH
             REQUIRED)
run_step("run the consumer" "${consumer_exe}")
message("${step_output}")
if(NOT step_output MATCHES "consumer: ok")
  message(FATAL_ERROR "install test: the consumer did not report success")
endif()
