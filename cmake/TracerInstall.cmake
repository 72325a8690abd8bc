# Install rules and the find_package(tracer) package config.
#
# Layers register their libraries with
#   set_property(GLOBAL APPEND PROPERTY TRACER_EXPORTED_TARGETS <target>)
# and this module installs them all, whenever in the configure step they were added: the work
# runs in a call deferred to the end of the top-level directory (cmake_language(DEFER)), so a
# layer added after this file is included is still exported.
#
# Installed layout (prefix-relative):
#   include/tracer/{format,tracer,recorder}/**.h   public headers, internal/ included (inline
#                                                  headers include them); users add
#                                                  include/tracer and write "tracer/tracer.h"
#   lib/libtracer_*.a                              the libraries
#   bin/tracetool                                  the CLI (exported as tracer::tracetool)
#   lib/cmake/tracer/tracer{Config,ConfigVersion,Targets*}.cmake
#
# Dependencies of the exported targets (absl, Threads, ZLIB, pkg-config modules such as lz4) are
# found again by tracerConfig.cmake; the list is computed from what the targets link, so a layer
# that starts using libunwind or libdw needs no change here (see tracer_pkg_module in
# TracerDependencies.cmake for how pkg-config modules are recorded).

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(TRACER_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/tracer"
    CACHE STRING "Where the tracer package config is installed, relative to the prefix")
set(_tracer_install_source_dir "${CMAKE_CURRENT_LIST_DIR}/..")
set(_tracer_install_list_dir "${CMAKE_CURRENT_LIST_DIR}")

# Strips $<LINK_ONLY:x> to x; drops every other generator expression (an exported target's
# conditional dependency is not a target of ours to export).
function(_tracer_link_item_target item out)
  set(name "")
  if(item MATCHES "^\\$<LINK_ONLY:([^>]+)>$")
    set(name "${CMAKE_MATCH_1}")
  elseif(NOT item MATCHES "\\$<")
    set(name "${item}")
  endif()
  set(${out} "${name}" PARENT_SCOPE)
endfunction()

# Adds to `targets_var` every non-imported target of this project that the listed libraries
# link, transitively: a static library's private dependencies (e.g. a tracer::<layer>_internal
# target) must be installed and exported beside it or the export fails. Imported targets met on
# the way go to `imported_var`.
function(_tracer_export_closure targets_var imported_var)
  set(todo ${${targets_var}})
  set(seen "")
  set(imported "")
  while(todo)
    list(POP_FRONT todo t)
    if(t IN_LIST seen)
      continue()
    endif()
    list(APPEND seen "${t}")
    get_target_property(type ${t} TYPE)
    if(type STREQUAL "EXECUTABLE")
      continue()  # an executable exports no link interface
    endif()
    set(deps "")
    foreach(prop LINK_LIBRARIES INTERFACE_LINK_LIBRARIES)
      get_target_property(v ${t} ${prop})
      if(v)
        list(APPEND deps ${v})
      endif()
    endforeach()
    foreach(item IN LISTS deps)
      _tracer_link_item_target("${item}" dep)
      if(NOT dep OR NOT TARGET "${dep}")
        continue()
      endif()
      get_target_property(aliased "${dep}" ALIASED_TARGET)
      if(aliased)
        set(dep "${aliased}")
      endif()
      get_target_property(is_imported "${dep}" IMPORTED)
      if(is_imported)
        list(APPEND imported "${dep}")
      elseif(NOT dep IN_LIST seen)
        list(APPEND todo "${dep}")
      endif()
    endforeach()
  endwhile()
  list(REMOVE_DUPLICATES imported)
  set(${targets_var} ${seen} PARENT_SCOPE)
  set(${imported_var} ${imported} PARENT_SCOPE)
endfunction()

function(_tracer_install_finalize)
  get_property(targets GLOBAL PROPERTY TRACER_EXPORTED_TARGETS)
  if(NOT targets)
    message(FATAL_ERROR "tracer: no target registered in TRACER_EXPORTED_TARGETS; nothing to install")
  endif()
  list(REMOVE_DUPLICATES targets)
  # tracetool is installed and exported here (not in tools/), so a user's build can run it as
  # tracer::tracetool.
  if(TARGET tracetool AND NOT "tracetool" IN_LIST targets)
    list(APPEND targets tracetool)
  endif()
  set(registered ${targets})
  _tracer_export_closure(targets imported)
  foreach(t IN LISTS targets)
    if(NOT t IN_LIST registered)
      message(STATUS "tracer: also exporting ${t} (linked by an exported target)")
    endif()
  endforeach()

  # The public headers are C++20 (defaulted operator==, designated initializers): say so on
  # each exported library, so a user's target gets the standard without setting it.
  foreach(t IN LISTS targets)
    get_target_property(type ${t} TYPE)
    if(type MATCHES "^(STATIC|SHARED|MODULE|INTERFACE)_LIBRARY$")
      target_compile_features(${t} INTERFACE cxx_std_20)
    endif()
  endforeach()

  install(TARGETS ${targets}
    EXPORT tracerTargets
    ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
    LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
    RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")

  # Public headers, layer by layer, layout preserved (internal/ and any sub-folder included).
  foreach(layer format tracer recorder)
    set(dir "${_tracer_install_source_dir}/${layer}")
    if(IS_DIRECTORY "${dir}")
      install(DIRECTORY "${dir}/"
        DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/tracer/${layer}"
        FILES_MATCHING PATTERN "*.h"
        PATTERN "CMakeFiles" EXCLUDE)
    endif()
  endforeach()

  install(EXPORT tracerTargets
    NAMESPACE tracer::
    FILE tracerTargets.cmake
    DESTINATION "${TRACER_INSTALL_CMAKEDIR}")

  # The find_dependency() calls tracerConfig.cmake needs, from the imported targets linked.
  set(find_deps "")
  set(need_absl OFF)
  set(need_threads OFF)
  set(need_pkgconfig OFF)
  get_property(pkg_modules GLOBAL PROPERTY TRACER_PKG_MODULES)
  foreach(dep IN LISTS imported)
    if(dep MATCHES "^absl::")
      set(need_absl ON)
    elseif(dep STREQUAL "Threads::Threads")
      set(need_threads ON)
    elseif(dep STREQUAL "ZLIB::ZLIB")
      string(APPEND find_deps "tracer_find_dependency(ZLIB zlib1g-dev)\n")
    elseif(dep MATCHES "^PkgConfig::(.+)$")
      # The module(s) the target was last made from: a layer may call pkg_check_modules for
      # the same prefix itself (FindPkgConfig keeps its arguments in this cache variable).
      set(prefix "${CMAKE_MATCH_1}")
      set(modules "${__pkg_config_arguments_${prefix}}")
      list(REMOVE_ITEM modules REQUIRED QUIET NO_CMAKE_PATH NO_CMAKE_ENVIRONMENT_PATH
           IMPORTED_TARGET GLOBAL)
      set(package "")
      foreach(entry IN LISTS pkg_modules)
        string(REPLACE "|" ";" parts "${entry}")
        list(GET parts 0 p)
        if(p STREQUAL prefix)
          if(NOT modules)
            list(GET parts 1 modules)
          endif()
          list(GET parts 2 package)
        endif()
      endforeach()
      if(NOT modules)
        message(FATAL_ERROR "tracer: exported targets link ${dep}, but no pkg-config module is "
          "known for it; find it with tracer_pkg_module() in cmake/TracerDependencies.cmake")
      endif()
      if(NOT package)
        set(package "the package that provides ${modules}.pc")
      endif()
      string(REPLACE ";" " " modules "${modules}")
      string(APPEND find_deps "tracer_find_pkg_module(${prefix} \"${modules}\" \"${package}\")\n")
      set(need_pkgconfig ON)
    elseif(dep STREQUAL "concurrentqueue::concurrentqueue")
      string(APPEND find_deps "tracer_find_concurrentqueue()\n")
    elseif(dep MATCHES "^([A-Za-z0-9_]+)::")
      # Any other package found in CONFIG mode (e.g. CLI11::CLI11): find it the same way.
      string(APPEND find_deps "tracer_find_dependency(${CMAKE_MATCH_1} \"\" CONFIG)\n")
    else()
      message(FATAL_ERROR "tracer: exported targets link the imported target ${dep}; teach "
        "cmake/TracerInstall.cmake how tracerConfig.cmake should find it")
    endif()
  endforeach()
  if(need_threads)
    string(PREPEND find_deps "set(THREADS_PREFER_PTHREAD_FLAG ON)\ntracer_find_dependency(Threads \"\")\n")
  endif()
  if(need_absl)
    string(PREPEND find_deps "tracer_find_dependency(absl libabsl-dev CONFIG)\n")
  endif()
  if(need_pkgconfig)
    string(PREPEND find_deps "tracer_find_dependency(PkgConfig pkg-config)\n")
  endif()
  set(TRACER_CONFIG_FIND_DEPENDENCIES "${find_deps}")

  # Components are the exported names: find_package(tracer REQUIRED COMPONENTS recorder).
  set(components "")
  foreach(t IN LISTS registered)
    get_target_property(name ${t} EXPORT_NAME)
    if(NOT name)
      set(name ${t})
    endif()
    list(APPEND components ${name})
  endforeach()
  set(TRACER_CONFIG_COMPONENTS "${components}")

  configure_package_config_file(
    "${_tracer_install_list_dir}/tracerConfig.cmake.in"
    "${PROJECT_BINARY_DIR}/tracerConfig.cmake"
    INSTALL_DESTINATION "${TRACER_INSTALL_CMAKEDIR}")
  write_basic_package_version_file(
    "${PROJECT_BINARY_DIR}/tracerConfigVersion.cmake"
    VERSION "${PROJECT_VERSION}"
    # 0.x: a minor release may break the API.
    COMPATIBILITY SameMinorVersion)
  install(FILES
    "${PROJECT_BINARY_DIR}/tracerConfig.cmake"
    "${PROJECT_BINARY_DIR}/tracerConfigVersion.cmake"
    DESTINATION "${TRACER_INSTALL_CMAKEDIR}")
endfunction()

cmake_language(DEFER CALL _tracer_install_finalize)
