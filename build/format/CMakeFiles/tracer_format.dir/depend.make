# Empty dependencies file for tracer_format.
# This may be replaced when dependencies are built.
