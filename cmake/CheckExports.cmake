# cmake -P script: checks the ABI surface of libdupthreading.so.
#   -DLIB=<.so> -DHEADER=<dup_threading.h> -DNM=<nm> -DREADELF=<readelf> [-DLDD=<ldd>]
#   [-DNEEDED_ONLY=<libs>] [-DMAX_BYTES=<n>]
# 1. the defined dynamic symbols are exactly the dt_ functions the header declares;
# 2. no Swift symbol ($s..., $e..., _$s...) is exported;
# 3. no libswift* dependency (readelf NEEDED and, if given, ldd);
# 4. the soname is libdupthreading.so.1;
# with NEEDED_ONLY (the embedded build: "libc.so.6"):
# 5. NEEDED is exactly those libraries, ldd shows nothing else (beyond the
#    dynamic loader and the vDSO), and every undefined dynamic symbol is a
#    versioned glibc symbol;
# with MAX_BYTES:
# 6. the file is smaller than MAX_BYTES.
foreach(v LIB HEADER NM READELF)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "CheckExports.cmake: -D${v}=... is required")
  endif()
endforeach()
set(errors "")

# Functions declared in the header: comments stripped, then every
# "dt_name(" preceded by a space or '*' (function-pointer typedefs read
# "(*dt_name)(" and so do not match).
file(READ "${HEADER}" text)
string(REGEX REPLACE "/\\*([^*]|\\*+[^*/])*\\*+/" "" text "${text}")
string(REGEX MATCHALL "[ *]dt_[a-z0-9_]+[ ]*\\(" decls "${text}")
set(declared "")
foreach(d IN LISTS decls)
  string(REGEX REPLACE "^[ *](dt_[a-z0-9_]+).*" "\\1" name "${d}")
  list(APPEND declared "${name}")
endforeach()
list(REMOVE_DUPLICATES declared)
list(SORT declared)
list(LENGTH declared n_declared)
if(n_declared LESS 10)
  message(FATAL_ERROR "parsed only ${n_declared} functions from ${HEADER}: ${declared}")
endif()

# Defined dynamic symbols: "<addr> <type> <name>[@@version]".
execute_process(COMMAND "${NM}" -D --defined-only "${LIB}"
  OUTPUT_VARIABLE nm_out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${NM} -D --defined-only ${LIB} failed (${rc})")
endif()
# Exported means global or weak binding: nm's upper-case types (and 'u', 'v',
# 'w'). Lower-case types are LOCAL entries that some linkers leave in .dynsym:
# no other object can bind to them, so they are listed but not counted.
string(REPLACE "\n" ";" nm_lines "${nm_out}")
set(exported "")
set(local_dynsym "")
foreach(line IN LISTS nm_lines)
  if(line MATCHES "^[0-9a-fA-F]* *([A-Za-z]) ([^ @]+)")
    set(type "${CMAKE_MATCH_1}")
    set(name "${CMAKE_MATCH_2}")
    if(type MATCHES "^[A-Zuvw]$")
      list(APPEND exported "${name}")
    else()
      list(APPEND local_dynsym "${name}")
    endif()
  endif()
endforeach()
list(REMOVE_DUPLICATES exported)
list(SORT exported)

set(missing ${declared})
list(REMOVE_ITEM missing ${exported})
set(extra ${exported})
list(REMOVE_ITEM extra ${declared})
if(missing)
  string(APPEND errors "declared in the header but not exported: ${missing}\n")
endif()
if(extra)
  string(APPEND errors "exported but not declared in the header: ${extra}\n")
endif()
set(swift_syms ${exported})
list(FILTER swift_syms INCLUDE REGEX "^_?\\$[se]")
if(swift_syms)
  string(APPEND errors "Swift symbols exported: ${swift_syms}\n")
endif()

# Dynamic section: NEEDED and SONAME.
execute_process(COMMAND "${READELF}" -d "${LIB}" OUTPUT_VARIABLE dyn RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${READELF} -d ${LIB} failed (${rc})")
endif()
string(REGEX MATCHALL "\\(NEEDED\\)[^\n]*\\[[^]]*\\]" needed "${dyn}")
if(needed MATCHES "libswift|libFoundation|libdispatch|libBlocksRuntime")
  string(APPEND errors "depends on the Swift runtime: ${needed}\n")
endif()
if(NOT dyn MATCHES "\\(SONAME\\)[^\n]*\\[libdupthreading\\.so\\.1\\]")
  string(REGEX MATCH "\\(SONAME\\)[^\n]*" soname "${dyn}")
  string(APPEND errors "soname is not libdupthreading.so.1: '${soname}'\n")
endif()
if(LDD)
  execute_process(COMMAND "${LDD}" "${LIB}" OUTPUT_VARIABLE ldd_out ERROR_VARIABLE ldd_err)
  if(ldd_out MATCHES "libswift")
    string(APPEND errors "ldd shows a Swift runtime dependency:\n${ldd_out}")
  endif()
  if(ldd_out MATCHES "not found")
    string(APPEND errors "ldd shows an unresolved dependency:\n${ldd_out}")
  endif()
endif()

# 5. Only the named libraries, and only glibc's symbols from them.
if(DEFINED NEEDED_ONLY)
  string(REGEX MATCHALL "\\[[^]]*\\]" needed_names "${needed}")
  string(REGEX REPLACE "[][]" "" needed_names "${needed_names}")
  set(want ${NEEDED_ONLY})
  list(SORT want)
  list(SORT needed_names)
  if(NOT needed_names STREQUAL want)
    string(APPEND errors "NEEDED is '${needed_names}', expected exactly '${want}'\n")
  endif()
  if(LDD)
    string(REPLACE "\n" ";" ldd_lines "${ldd_out}")
    foreach(line IN LISTS ldd_lines)
      string(STRIP "${line}" line)
      if(line STREQUAL "" OR line MATCHES "^linux-vdso\\.so|^/lib.*/ld-linux|ld-linux[-a-z0-9_.]*\\.so")
        continue()
      endif()
      string(REGEX REPLACE " .*" "" name "${line}")
      if(NOT name IN_LIST want)
        string(APPEND errors "ldd shows a dependency beyond ${want}: ${line}\n")
      endif()
    endforeach()
  endif()
  execute_process(COMMAND "${NM}" -D --undefined-only "${LIB}" OUTPUT_VARIABLE undef_out RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${NM} -D --undefined-only ${LIB} failed (${rc})")
  endif()
  string(REPLACE "\n" ";" undef_lines "${undef_out}")
  set(n_imports 0)
  foreach(line IN LISTS undef_lines)
    # " U name@GLIBC_2.2.5" (strong) or " w name" (weak, may stay unresolved).
    if(line MATCHES "^ *U ([^ ]+)")
      set(import "${CMAKE_MATCH_1}")
      math(EXPR n_imports "${n_imports} + 1")
      if(NOT import MATCHES "@GLIBC_[0-9.]+$")
        string(APPEND errors "imports ${import}, which is not a glibc symbol\n")
      endif()
    endif()
  endforeach()
endif()

# 6. The size.
file(SIZE "${LIB}" lib_bytes)
if(DEFINED MAX_BYTES AND NOT lib_bytes LESS MAX_BYTES)
  string(APPEND errors "${lib_bytes} bytes, not below ${MAX_BYTES}\n")
endif()

list(LENGTH exported n_exported)
if(errors)
  message(FATAL_ERROR "ABI check of ${LIB} failed:\n${errors}")
endif()
string(REGEX MATCHALL "\\[[^]]*\\]" needed_str "${needed}")
string(REGEX REPLACE "[][]" "" needed_str "${needed_str}")
string(REPLACE ";" " " needed_str "needs ${needed_str}")
set(extra_str "")
if(DEFINED NEEDED_ONLY)
  string(APPEND extra_str "; ${n_imports} imports, all glibc's")
endif()
message(STATUS "ABI OK: ${n_exported} dt_ functions exported = ${n_declared} declared; "
               "soname libdupthreading.so.1; ${needed_str}${extra_str}; ${lib_bytes} bytes")
if(local_dynsym)
  list(LENGTH local_dynsym n_local)
  message(STATUS "note: ${n_local} LOCAL (not exported) entries in .dynsym: ${local_dynsym}")
endif()
