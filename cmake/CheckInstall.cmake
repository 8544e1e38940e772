# cmake -P script: uses an installed libdupthreading the two documented ways.
#
# Where the installed tree comes from, one of:
#   -DBUILD_DIR= -DLIBDIR=   installs the build tree into WORK_DIR/prefix (CTest: install_consumers)
#   -DTARBALL=               unpacks the release's C tarball into WORK_DIR/unpacked; its one
#                            top-level directory is the prefix, with lib/ (scripts/release.sh)
# Always: -DSOURCE_DIR= -DWORK_DIR= -DC_COMPILER=; optional: -DGENERATOR= -DPKG_CONFIG= -DCONFIG=
# -DLDD= (checks that the programs load the library from the prefix).
#
# (a) cc hello.c $(pkg-config --cflags --libs dupthreading), run with LD_LIBRARY_PATH;
# (b) an outside CMake project using find_package(DupThreading), run via its rpath.
# From a tarball both are required, and the tree must be relocatable: pkg-config
# and the CMake package must find it where it was unpacked.
foreach(v SOURCE_DIR WORK_DIR C_COMPILER)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "CheckInstall.cmake: -D${v}=... is required")
  endif()
endforeach()
if(NOT DEFINED TARBALL AND (NOT DEFINED BUILD_DIR OR NOT DEFINED LIBDIR))
  message(FATAL_ERROR "CheckInstall.cmake: -DTARBALL=... or -DBUILD_DIR=... -DLIBDIR=... is required")
endif()

# Runs a command; stops with its output if it fails. Extra output in OUT_VAR.
function(run out_var)
  execute_process(COMMAND ${ARGN} OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "failed (${rc}): ${cmd}\n${out}\n${err}")
  endif()
  set(${out_var} "${out}" PARENT_SCOPE)
endfunction()

# With LDD: PROGRAM must load libdupthreading from under the prefix.
function(check_loaded_from program)
  if(NOT LDD)
    return()
  endif()
  run(out "${LDD}" "${program}")
  string(REGEX MATCH "libdupthreading[^\n]*=> ([^ \n]+)" line "${out}")
  set(path "${CMAKE_MATCH_1}")
  file(REAL_PATH "${prefix}" real_prefix)
  if(path)
    file(REAL_PATH "${path}" path)
  endif()
  string(FIND "${path}" "${real_prefix}/" at)
  if(NOT at EQUAL 0)
    message(FATAL_ERROR "${program} loads libdupthreading from '${path}', not from ${real_prefix}:\n${out}")
  endif()
  message(STATUS "${program} loads ${path}")
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
if(DEFINED TARBALL)
  # ---- the release tarball, unpacked somewhere it was not built ----------------
  if(NOT PKG_CONFIG)
    message(FATAL_ERROR "checking a tarball needs pkg-config (-DPKG_CONFIG=)")
  endif()
  file(ARCHIVE_EXTRACT INPUT "${TARBALL}" DESTINATION "${WORK_DIR}/unpacked")
  file(GLOB top LIST_DIRECTORIES true "${WORK_DIR}/unpacked/*")
  list(LENGTH top n)
  if(NOT n EQUAL 1 OR NOT IS_DIRECTORY "${top}")
    message(FATAL_ERROR "${TARBALL} should hold one top-level directory, it holds: ${top}")
  endif()
  set(prefix "${top}")
  set(LIBDIR lib)
  foreach(f README.md LICENSE)
    if(NOT EXISTS "${prefix}/${f}")
      message(FATAL_ERROR "${TARBALL} has no ${f} at its top")
    endif()
  endforeach()
  message(STATUS "unpacked ${TARBALL} into ${prefix}")
else()
  # ---- a fresh install of the build tree ----------------------------------------
  set(prefix "${WORK_DIR}/prefix")
  set(install_cmd "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${prefix}")
  if(CONFIG)
    list(APPEND install_cmd --config "${CONFIG}")
  endif()
  run(out ${install_cmd})
  message(STATUS "installed into ${prefix}")
endif()

# What must be there, symlinks included.
set(lib "${prefix}/${LIBDIR}")
foreach(f "${lib}/libdupthreading.so.1.0.0" "include/dup_threading.h"
          "${LIBDIR}/pkgconfig/dupthreading.pc"
          "${LIBDIR}/cmake/DupThreading/DupThreadingConfig.cmake"
          "${LIBDIR}/cmake/DupThreading/DupThreadingConfigVersion.cmake")
  get_filename_component(f "${f}" ABSOLUTE BASE_DIR "${prefix}")
  if(NOT EXISTS "${f}")
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()
foreach(pair "libdupthreading.so.1=libdupthreading.so.1.0.0" "libdupthreading.so=libdupthreading.so.1")
  string(REPLACE "=" ";" pair "${pair}")
  list(GET pair 0 link)
  list(GET pair 1 target)
  file(READ_SYMLINK "${lib}/${link}" got)
  if(NOT got STREQUAL target)
    message(FATAL_ERROR "${lib}/${link} -> '${got}', expected -> ${target}")
  endif()
endforeach()

# (a) pkg-config.
if(PKG_CONFIG)
  set(ENV{PKG_CONFIG_PATH} "${lib}/pkgconfig")
  unset(ENV{PKG_CONFIG_LIBDIR})
  run(flags "${PKG_CONFIG}" --cflags --libs dupthreading)
  run(version "${PKG_CONFIG}" --modversion dupthreading)
  run(pc_prefix "${PKG_CONFIG}" --variable=prefix dupthreading)
  string(STRIP "${flags}" flags)
  string(STRIP "${version}" version)
  string(STRIP "${pc_prefix}" pc_prefix)
  file(REAL_PATH "${pc_prefix}" pc_prefix_real)
  file(REAL_PATH "${prefix}" prefix_real)
  if(NOT pc_prefix_real STREQUAL prefix_real)
    message(FATAL_ERROR "pkg-config's prefix is ${pc_prefix} (${pc_prefix_real}), not ${prefix_real}")
  endif()
  message(STATUS "pkg-config dupthreading ${version}: ${flags}")
  separate_arguments(flags UNIX_COMMAND "${flags}")
  run(out "${C_COMPILER}" -std=c99 -Wall -Wextra -pedantic -Werror
      "${SOURCE_DIR}/examples/c/hello.c" ${flags} -pthread -o "${WORK_DIR}/hello")
  set(ENV{LD_LIBRARY_PATH} "${lib}")
  run(out "${WORK_DIR}/hello")
  check_loaded_from("${WORK_DIR}/hello")
  unset(ENV{LD_LIBRARY_PATH})
  if(NOT out MATCHES "counter = 5")
    message(FATAL_ERROR "hello printed:\n${out}")
  endif()
  message(STATUS "hello (pkg-config build) ran:\n${out}")
else()
  message(STATUS "pkg-config not found: skipping the pkg-config build of hello.c")
endif()

# (b) find_package from an outside project.
set(consumer "${WORK_DIR}/consumer-build")
set(generator_args "")
if(GENERATOR)
  set(generator_args -G "${GENERATOR}")
endif()
run(out "${CMAKE_COMMAND}" -S "${SOURCE_DIR}/Tests/c/find_package_consumer" -B "${consumer}"
    ${generator_args} "-DCMAKE_PREFIX_PATH=${prefix}" "-DCMAKE_C_COMPILER=${C_COMPILER}")
run(out "${CMAKE_COMMAND}" --build "${consumer}")
run(out "${consumer}/consumer")
check_loaded_from("${consumer}/consumer")
message(STATUS "find_package consumer ran: ${out}")
