file(REMOVE_RECURSE
  "CMakeFiles/tracer_format.dir/event_printer.cc.o"
  "CMakeFiles/tracer_format.dir/event_printer.cc.o.d"
  "CMakeFiles/tracer_format.dir/event_table.cc.o"
  "CMakeFiles/tracer_format.dir/event_table.cc.o.d"
  "CMakeFiles/tracer_format.dir/trace_reader.cc.o"
  "CMakeFiles/tracer_format.dir/trace_reader.cc.o.d"
  "CMakeFiles/tracer_format.dir/trace_writer.cc.o"
  "CMakeFiles/tracer_format.dir/trace_writer.cc.o.d"
  "libtracer_format.a"
  "libtracer_format.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang CXX)
  include(CMakeFiles/tracer_format.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
