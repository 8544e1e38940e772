# cmake -P script: installs the build tree into a fresh prefix and uses it
# the two documented ways.
#   -DBUILD_DIR= -DSOURCE_DIR= -DWORK_DIR= -DLIBDIR= -DC_COMPILER= -DGENERATOR=
#   [-DPKG_CONFIG=] [-DCONFIG=]
# (a) cc hello.c $(pkg-config --cflags --libs dupthreading), run with LD_LIBRARY_PATH;
# (b) an outside CMake project using find_package(DupThreading), run via its rpath.
foreach(v BUILD_DIR SOURCE_DIR WORK_DIR LIBDIR C_COMPILER GENERATOR)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "CheckInstall.cmake: -D${v}=... is required")
  endif()
endforeach()

# Runs a command; stops with its output if it fails. Extra output in OUT_VAR.
function(run out_var)
  execute_process(COMMAND ${ARGN} OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "failed (${rc}): ${cmd}\n${out}\n${err}")
  endif()
  set(${out_var} "${out}" PARENT_SCOPE)
endfunction()

set(prefix "${WORK_DIR}/prefix")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(install_cmd "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${prefix}")
if(CONFIG)
  list(APPEND install_cmd --config "${CONFIG}")
endif()
run(out ${install_cmd})

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
message(STATUS "installed into ${prefix}")

# (a) pkg-config.
if(PKG_CONFIG)
  set(ENV{PKG_CONFIG_PATH} "${lib}/pkgconfig")
  run(flags "${PKG_CONFIG}" --cflags --libs dupthreading)
  run(version "${PKG_CONFIG}" --modversion dupthreading)
  string(STRIP "${flags}" flags)
  string(STRIP "${version}" version)
  message(STATUS "pkg-config dupthreading ${version}: ${flags}")
  separate_arguments(flags UNIX_COMMAND "${flags}")
  run(out "${C_COMPILER}" -std=c99 -Wall -Wextra -pedantic -Werror
      "${SOURCE_DIR}/examples/c/hello.c" ${flags} -pthread -o "${WORK_DIR}/hello")
  set(ENV{LD_LIBRARY_PATH} "${lib}")
  run(out "${WORK_DIR}/hello")
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
run(out "${CMAKE_COMMAND}" -S "${SOURCE_DIR}/Tests/c/find_package_consumer" -B "${consumer}"
    -G "${GENERATOR}" "-DCMAKE_PREFIX_PATH=${prefix}" "-DCMAKE_C_COMPILER=${C_COMPILER}")
run(out "${CMAKE_COMMAND}" --build "${consumer}")
run(out "${consumer}/consumer")
message(STATUS "find_package consumer ran: ${out}")
