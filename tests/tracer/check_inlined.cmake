# Fails if BINARY holds an out-of-line copy of a hot-path entry point (see inline_check.cc).
# Usage: cmake -DNM=<nm> -DBINARY=<file> -P check_inlined.cmake
execute_process(COMMAND "${NM}" -C "${BINARY}" OUTPUT_VARIABLE symbols RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${NM} failed on ${BINARY}")
endif()
# Every form of StartRegion, WithRegion and Log (Name, literal, string_view), the literal forms
# of NewTask (templates: "NewTask<"; the others are calls by design), and the literal cache's
# look-up. nm lists undefined symbols too, so a form that calls into the library matches.
set(entry "tracer::(hooks::(TaskStart|TaskBlock|TaskUnblock|TaskYield|TaskEnd|SyscallBegin|SyscallEnd|ScopedSyscall|PhaseBegin|PhaseEnd|Counter)|LogWithId|Log[(<]|StartRegion[(<]|WithRegion[(<]|NewTask<|StartRegionWithId|Region::(~Region|End)|tracer_internal::(Emit|EmitEnabled|EmitEnabledArgs|SiteNameId|ApiAccess::[A-Za-z]+)[(<])")
string(REGEX MATCHALL "[^\n]*${entry}[^\n]*" hits "${symbols}")
if(hits)
  string(REPLACE ";" "\n  " hits "${hits}")
  message(FATAL_ERROR "hot-path entry points compiled out of line (each event would be a call):\n  ${hits}")
endif()
message(STATUS "every hot-path entry point is inlined in ${BINARY}")
