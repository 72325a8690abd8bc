# Fails if BINARY holds an out-of-line copy of a hot-path entry point (see inline_check.cc).
# Usage: cmake -DNM=<nm> -DBINARY=<file> -P check_inlined.cmake
execute_process(COMMAND "${NM}" -C "${BINARY}" OUTPUT_VARIABLE symbols RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${NM} failed on ${BINARY}")
endif()
set(entry "tracer::(hooks::(TaskStart|TaskBlock|TaskUnblock|TaskYield|TaskEnd|SyscallBegin|SyscallEnd|ScopedSyscall|PhaseBegin|PhaseEnd|Counter)|LogWithId|Log\\(tracer::Task const&, tracer::Name|StartRegion\\(tracer::Task const&, tracer::Name|StartRegion\\(tracer::Name|StartRegionWithId|Region::(~Region|End)|tracer_internal::(Emit|EmitEnabled|EmitEnabledArgs)[(<])")
string(REGEX MATCHALL "[^\n]*${entry}[^\n]*" hits "${symbols}")
if(hits)
  string(REPLACE ";" "\n  " hits "${hits}")
  message(FATAL_ERROR "hot-path entry points compiled out of line (each event would be a call):\n  ${hits}")
endif()
message(STATUS "every hot-path entry point is inlined in ${BINARY}")
