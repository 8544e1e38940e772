# libdupthreading.so built with Embedded Swift: no Swift runtime, only libc.
#
# The same sources as the Swift package, compiled by swiftc directly:
#
#   Sources/DupThreading/*.swift     -> embedded/DupThreading.o (+ its .swiftmodule)
#   Sources/CDupThreading/*.swift    -> embedded/CDupThreading.o (imports the above)
#   Sources/CDupThreadingShims/*.c   -> compiled by the C compiler
#
# then linked by the C compiler into a shared library with the soname, the
# linker version script (only the dt_ functions are exported) and section
# garbage collection. Embedded Swift compiles the parts of the standard
# library and of the runtime (allocation, reference counting) that the code
# uses into these objects; nothing else is linked. The untyped-throws part
# of the Swift API (Sources/DupThreading/UntypedThrows.swift) is compiled out
# (#if !hasFeature(Embedded)); the C face does not use it.
#
# Included by CMakeLists.txt, which sets SWIFT_EXECUTABLE, DT_LIB_DIR,
# DT_SONAME, DT_LIBFILE and the DT_SANITIZE_* variables (cmake/Sanitize.cmake).
# dt_embedded_supported(VAR) probes the toolchain; dt_add_embedded_library()
# defines the target `dupthreading`.

# swiftc lives next to swift.
get_filename_component(_dt_swift_real "${SWIFT_EXECUTABLE}" REALPATH)
get_filename_component(_dt_swift_bin "${_dt_swift_real}" DIRECTORY)
find_program(SWIFTC_EXECUTABLE swiftc HINTS "${_dt_swift_bin}" NO_DEFAULT_PATH)
find_program(SWIFTC_EXECUTABLE swiftc)

set(DT_EMBEDDED_DIR ${CMAKE_BINARY_DIR}/embedded)

# The toolchain's Embedded Swift libraries for this machine. The Unicode data
# tables are linked from there (as an archive: nothing of it is taken unless
# something refers to it). The C face never needs them, but a sanitized build
# keeps every function alive (ASan's globals, the fuzzer's coverage table),
# including the standard library's string comparison, which does.
set(DT_EMBEDDED_UNICODE_TABLES "")
if(SWIFTC_EXECUTABLE)
  execute_process(COMMAND ${SWIFTC_EXECUTABLE} -print-target-info
    OUTPUT_VARIABLE _dt_target_info RESULT_VARIABLE _dt_rc ERROR_QUIET)
  if(_dt_rc EQUAL 0)
    string(JSON _dt_triple ERROR_VARIABLE _dt_json_error GET "${_dt_target_info}" target triple)
    string(JSON _dt_resources ERROR_VARIABLE _dt_json_error GET "${_dt_target_info}" paths runtimeResourcePath)
    set(_dt_tables "${_dt_resources}/embedded/${_dt_triple}/libswiftUnicodeDataTables.a")
    if(EXISTS "${_dt_tables}")
      set(DT_EMBEDDED_UNICODE_TABLES "${_dt_tables}")
    endif()
  endif()
endif()
set(DT_EMBEDDED_SWIFT_FLAGS "-O" CACHE STRING
  "Optimization and extra flags for swiftc in the embedded build (shell-quoted)")
separate_arguments(_dt_emb_user_flags UNIX_COMMAND "${DT_EMBEDDED_SWIFT_FLAGS}")
set(_dt_emb_flags
  -enable-experimental-feature Embedded -wmo -parse-as-library
  ${_dt_emb_user_flags}
  # One section per function, so that the link drops what the C face does not reach.
  -Xfrontend -function-sections
  -Xcc -fPIC
  -module-cache-path ${DT_EMBEDDED_DIR}/module-cache
  ${DT_SANITIZE_SWIFTC_FLAGS})

# Whether swiftc can build this kind of code in Embedded Swift for this
# machine (a class, an atomic, typed throws): sets VAR to TRUE or FALSE.
function(dt_embedded_supported var)
  if(DEFINED DT_EMBEDDED_PROBE_RESULT)
    set(${var} ${DT_EMBEDDED_PROBE_RESULT} PARENT_SCOPE)
    return()
  endif()
  set(ok FALSE)
  if(SWIFTC_EXECUTABLE)
    set(dir ${CMAKE_BINARY_DIR}/CMakeFiles/dt-embedded-probe)
    file(MAKE_DIRECTORY ${dir})
    file(WRITE ${dir}/probe.swift [=[
import Synchronization
enum ProbeError: Error { case failed }
final class Probe {
    let word = Atomic<UInt32>(0)
    func bump() throws(ProbeError) -> UInt32 {
        let (done, _) = word.compareExchange(expected: 0, desired: 1, ordering: .acquiring)
        guard done else { throw .failed }
        return word.load(ordering: .relaxed)
    }
}
@_cdecl("dt_embedded_probe")
public func dtEmbeddedProbe() -> UInt32 { (try? Probe().bump()) ?? 0 }
]=])
    execute_process(
      COMMAND ${SWIFTC_EXECUTABLE} -enable-experimental-feature Embedded -wmo -parse-as-library -O
              -module-cache-path ${dir}/module-cache -c ${dir}/probe.swift -o ${dir}/probe.o
      RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    if(rc EQUAL 0)
      set(ok TRUE)
    else()
      string(SUBSTRING "${out}" 0 600 out)
      message(STATUS "Embedded Swift probe failed:\n${out}")
    endif()
  endif()
  set(DT_EMBEDDED_PROBE_RESULT ${ok} CACHE INTERNAL "Whether swiftc builds Embedded Swift here")
  set(${var} ${ok} PARENT_SCOPE)
endfunction()

function(dt_add_embedded_library)
  set(src ${CMAKE_SOURCE_DIR}/Sources)
  set(dir ${DT_EMBEDDED_DIR})
  file(GLOB core_sources CONFIGURE_DEPENDS ${src}/DupThreading/*.swift)
  file(GLOB cface_sources CONFIGURE_DEPENDS ${src}/CDupThreading/*.swift)
  list(SORT core_sources)
  list(SORT cface_sources)
  set(shim_header ${src}/CDupThreadingShims/include/dt_shims.h)
  # SwiftPM writes the shim's module map itself; swiftc needs one.
  file(CONFIGURE OUTPUT ${dir}/shims/module.modulemap CONTENT
"module CDupThreadingShims {
    header \"${shim_header}\"
    export *
}
")
  set(core_object ${dir}/DupThreading.o)
  set(core_module ${dir}/modules/DupThreading.swiftmodule)
  set(cface_object ${dir}/CDupThreading.o)

  add_custom_command(
    OUTPUT ${core_object} ${core_module}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${dir}/modules
    COMMAND ${SWIFTC_EXECUTABLE} ${_dt_emb_flags} -module-name DupThreading
            -I ${dir}/shims
            -emit-module -emit-module-path ${core_module}
            -c -o ${core_object} ${core_sources}
    DEPENDS ${core_sources} ${shim_header} ${dir}/shims/module.modulemap
    COMMENT "Compiling the Swift core (Embedded Swift)"
    VERBATIM)
  add_custom_command(
    OUTPUT ${cface_object}
    COMMAND ${SWIFTC_EXECUTABLE} ${_dt_emb_flags} -module-name CDupThreading
            -I ${dir}/modules -I ${dir}/shims -I ${src}/CDupThreadingAPI
            -c -o ${cface_object} ${cface_sources}
    DEPENDS ${cface_sources} ${core_module} ${CMAKE_SOURCE_DIR}/include/dup_threading.h
            ${src}/CDupThreadingAPI/module.modulemap
    COMMENT "Compiling the C face (Embedded Swift)"
    VERBATIM)
  set_source_files_properties(${core_object} ${cface_object} PROPERTIES EXTERNAL_OBJECT TRUE GENERATED TRUE)

  file(GLOB shim_sources CONFIGURE_DEPENDS ${src}/CDupThreadingShims/*.c)
  add_library(dupthreading SHARED ${shim_sources} ${core_object} ${cface_object})
  target_include_directories(dupthreading PRIVATE ${src}/CDupThreadingShims/include)
  target_include_directories(dupthreading INTERFACE ${CMAKE_SOURCE_DIR}/include)
  target_compile_options(dupthreading PRIVATE -ffunction-sections -fdata-sections ${DT_SANITIZE_C_FLAGS})
  if(DT_EMBEDDED_UNICODE_TABLES)
    target_link_libraries(dupthreading PRIVATE ${DT_EMBEDDED_UNICODE_TABLES})
  endif()
  set(map ${src}/CDupThreading/exports.map)
  target_link_options(dupthreading PRIVATE
    -Wl,--version-script=${map}
    -Wl,--gc-sections
    # valgrind 3.19 cannot read the DWARF 5 that current compilers emit.
    -Wl,--strip-debug)
  if(NOT DT_SANITIZE)
    # Every symbol resolved at link time: libc is all the library needs.
    # (A sanitized library leaves the sanitizer runtime to the executable.)
    target_link_options(dupthreading PRIVATE -Wl,-z,defs)
  else()
    target_link_options(dupthreading PRIVATE ${DT_SANITIZE_LIBRARY_LINK_FLAGS})
  endif()
  set_target_properties(dupthreading PROPERTIES
    LINKER_LANGUAGE C
    C_VISIBILITY_PRESET hidden
    OUTPUT_NAME dupthreading
    VERSION ${PROJECT_VERSION}
    SOVERSION ${PROJECT_VERSION_MAJOR}
    # (a generator expression: no per-configuration subdirectory)
    LIBRARY_OUTPUT_DIRECTORY $<1:${DT_LIB_DIR}>
    LINK_DEPENDS ${map})
  if(DT_STRIP)
    add_custom_command(TARGET dupthreading POST_BUILD
      COMMAND ${CMAKE_STRIP} --strip-unneeded $<TARGET_FILE:dupthreading>
      VERBATIM)
  endif()
endfunction()
