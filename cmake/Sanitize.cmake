# DT_SANITIZE=thread|address: builds libdupthreading.so and every C program
# of this project with a sanitizer, in a build directory of their own.
#
#   thread   the library with swiftc -sanitize=thread (the Embedded Swift
#            build; `swift build --sanitize=thread` with DT_LIBRARY=swiftpm),
#            the C programs with -fsanitize=thread
#   address  the library with -sanitize=address (Swift has no UBSan on
#            Linux), the C programs with -fsanitize=address,undefined;
#            with DT_FUZZ=ON the library also gets libFuzzer's coverage
#            counters (the ASan runtime gives programs without libFuzzer
#            no-op defaults). Not through -sanitize=fuzzer: with Swift
#            6.3.1, -sanitize=fuzzer next to -sanitize=address leaves the
#            optimized library almost without ASan checks (2 reports instead
#            of ~1200); -sanitize-coverage keeps both.
#
# The library leaves the sanitizer runtime to the executable, so the C
# compiler must be a clang whose runtime matches the Swift toolchain's: the
# toolchain's own clang (CC=clang from the toolchain). Sets
# DT_SANITIZE_SWIFTC_FLAGS (the embedded build), DT_SANITIZE_SWIFT_ARGS
# (swift build), DT_SANITIZE_C_FLAGS, DT_SANITIZE_LINK_FLAGS (programs),
# DT_SANITIZE_LIBRARY_LINK_FLAGS (the embedded library) and DT_SANITIZE_ENV
# (for the tests).
set(DT_SANITIZE "" CACHE STRING "Build with a sanitizer: thread, address, or empty")
set_property(CACHE DT_SANITIZE PROPERTY STRINGS "" thread address)
option(DT_FUZZ "Build the libFuzzer target (needs DT_SANITIZE=address)" OFF)

set(DT_SANITIZE_SWIFT_ARGS "")
set(DT_SANITIZE_SWIFTC_FLAGS "")
set(DT_SANITIZE_C_FLAGS "")
set(DT_SANITIZE_LINK_FLAGS "")
set(DT_SANITIZE_LIBRARY_LINK_FLAGS "")
set(DT_SANITIZE_ENV "")

if(DT_FUZZ AND NOT DT_SANITIZE STREQUAL "address")
  message(FATAL_ERROR "DT_FUZZ=ON needs DT_SANITIZE=address")
endif()
if(DT_SANITIZE STREQUAL "")
  return()
endif()
if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "DT_SANITIZE needs clang (the Swift toolchain's), not ${CMAKE_C_COMPILER_ID}")
endif()

# Sanitizer reports name our frames; -O1 keeps the tests' timing realistic.
set(_common -g -O1 -fno-omit-frame-pointer)
if(DT_SANITIZE STREQUAL "thread")
  list(APPEND DT_SANITIZE_SWIFT_ARGS --sanitize=thread)
  list(APPEND DT_SANITIZE_SWIFTC_FLAGS -sanitize=thread)
  set(DT_SANITIZE_C_FLAGS ${_common} -fsanitize=thread)
  set(DT_SANITIZE_LINK_FLAGS -fsanitize=thread)
  # A race report fails the test at once.
  list(APPEND DT_SANITIZE_ENV "TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1")
elseif(DT_SANITIZE STREQUAL "address")
  list(APPEND DT_SANITIZE_SWIFT_ARGS --sanitize=address)
  list(APPEND DT_SANITIZE_SWIFTC_FLAGS -sanitize=address)
  if(DT_FUZZ)
    list(APPEND DT_SANITIZE_SWIFT_ARGS -Xswiftc -sanitize-coverage=edge,trace-cmp,inline-8bit-counters,pc-table)
    list(APPEND DT_SANITIZE_SWIFTC_FLAGS -sanitize-coverage=edge,trace-cmp,inline-8bit-counters,pc-table)
  endif()
  set(DT_SANITIZE_C_FLAGS ${_common} -fsanitize=address,undefined -fno-sanitize-recover=undefined)
  set(DT_SANITIZE_LINK_FLAGS -fsanitize=address,undefined)
  list(APPEND DT_SANITIZE_ENV
    "ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1"
    "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
else()
  message(FATAL_ERROR "DT_SANITIZE must be thread, address or empty, not '${DT_SANITIZE}'")
endif()

# The toolchain clang's static TSan runtime carries libdispatch interceptors,
# which need libdispatch and the blocks runtime at link time: take them from
# the Swift toolchain (as swiftc does) if a plain link fails.
include(CheckCSourceCompiles)
set(CMAKE_REQUIRED_FLAGS "${DT_SANITIZE_LINK_FLAGS}")
string(REPLACE ";" " " CMAKE_REQUIRED_FLAGS "${CMAKE_REQUIRED_FLAGS}")
check_c_source_compiles("int main(void) { return 0; }" DT_SANITIZER_LINKS_ALONE)
if(NOT DT_SANITIZER_LINKS_ALONE)
  get_filename_component(_swift_bin "${SWIFT_EXECUTABLE}" REALPATH)
  get_filename_component(_swift_bin "${_swift_bin}" DIRECTORY)
  set(_swift_lib "${_swift_bin}/../lib/swift/linux")
  list(APPEND DT_SANITIZE_LINK_FLAGS -L${_swift_lib} -ldispatch -lBlocksRuntime -Wl,-rpath,${_swift_lib})
  string(REPLACE ";" " " CMAKE_REQUIRED_FLAGS "${DT_SANITIZE_LINK_FLAGS}")
  check_c_source_compiles("int main(void) { return 0; }" DT_SANITIZER_LINKS_WITH_DISPATCH)
  if(NOT DT_SANITIZER_LINKS_WITH_DISPATCH)
    message(FATAL_ERROR "cannot link a C program with -fsanitize=${DT_SANITIZE} using ${CMAKE_C_COMPILER}")
  endif()
endif()
# lld, when there is one, links sanitized programs without gold's warnings.
string(REPLACE ";" " " CMAKE_REQUIRED_FLAGS "${DT_SANITIZE_LINK_FLAGS} -fuse-ld=lld")
check_c_source_compiles("int main(void) { return 0; }" DT_SANITIZER_LINKS_WITH_LLD)
if(DT_SANITIZER_LINKS_WITH_LLD)
  list(APPEND DT_SANITIZE_LINK_FLAGS -fuse-ld=lld)
  # And the embedded library: gold warns about every sanitizer callback the
  # version script's "local: *" meets undefined.
  list(APPEND DT_SANITIZE_LIBRARY_LINK_FLAGS -fuse-ld=lld)
endif()
unset(CMAKE_REQUIRED_FLAGS)
# The tests' sanitizer options, for scripts that run the programs directly.
string(REPLACE ";" "\n" _env "${DT_SANITIZE_ENV}")
file(WRITE ${CMAKE_BINARY_DIR}/sanitizer.env "${_env}\n")
message(STATUS "DT_SANITIZE=${DT_SANITIZE}: swift build ${DT_SANITIZE_SWIFT_ARGS}; C: ${DT_SANITIZE_C_FLAGS}")
