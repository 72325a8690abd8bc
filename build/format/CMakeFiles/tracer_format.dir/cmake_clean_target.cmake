file(REMOVE_RECURSE
  "libtracer_format.a"
)
