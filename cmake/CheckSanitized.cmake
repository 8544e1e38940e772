# cmake -P script: the sanitized library really carries the sanitizer's
# checks, not just its name: it imports at least MIN distinct __PREFIX_
# runtime functions (an ASan build has ~20; the broken -sanitize=fuzzer
# combination described in Sanitize.cmake left 4).
#   -DLIB=<.so> -DNM=<nm> -DPREFIX=asan|tsan -DMIN=<count>
execute_process(COMMAND ${NM} -D --undefined-only ${LIB} OUTPUT_VARIABLE syms RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "nm failed on ${LIB}")
endif()
string(REGEX MATCHALL "__${PREFIX}_[A-Za-z0-9_]+" hits "${syms}")
list(REMOVE_DUPLICATES hits)
list(LENGTH hits n)
if(n LESS MIN)
  message(FATAL_ERROR "${LIB} imports only ${n} __${PREFIX}_ functions (want >= ${MIN}): not instrumented")
endif()
message(STATUS "${LIB}: ${n} distinct __${PREFIX}_ imports")
