
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/format/event_printer.cc" "format/CMakeFiles/tracer_format.dir/event_printer.cc.o" "gcc" "format/CMakeFiles/tracer_format.dir/event_printer.cc.o.d"
  "/work/main/format/event_table.cc" "format/CMakeFiles/tracer_format.dir/event_table.cc.o" "gcc" "format/CMakeFiles/tracer_format.dir/event_table.cc.o.d"
  "/work/main/format/trace_reader.cc" "format/CMakeFiles/tracer_format.dir/trace_reader.cc.o" "gcc" "format/CMakeFiles/tracer_format.dir/trace_reader.cc.o.d"
  "/work/main/format/trace_writer.cc" "format/CMakeFiles/tracer_format.dir/trace_writer.cc.o" "gcc" "format/CMakeFiles/tracer_format.dir/trace_writer.cc.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
