#!/usr/bin/env bash
# Reliability checks of the Swift core and its C face, in one command:
#
#   1. the Swift unit tests under ThreadSanitizer and AddressSanitizer;
#   2. the C harness and the stress programs with the library and the
#      programs built under TSan (build-tsan/) and ASan+UBSan (build-asan/);
#   3. the stress programs on the plain release build (build-rel/);
#   4. libFuzzer on the C API (Tests/fuzz), seeded from Tests/fuzz/corpus;
#   5. helgrind and DRD on the C tests they can judge (Tests/valgrind), and
#      helgrind's report on the others, recorded but not judged.
#
#   scripts/reliability.sh [--ci | --full | --soak SECONDS]
#     --ci    (default) stress at full scale once per build, fuzz 60 s
#     --full  as --ci, plus plain stress repeated for 60 s per program, fuzz 600 s
#     --soak  as --full, with SECONDS per plain stress program and for the fuzzer
#
# Writes reliability-results/reliability.json (figures), summary.txt and
# logs/; exits non-zero if any step failed.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

mode=ci
soak=0
case "${1:-}" in
    ""|--ci) mode=ci ;;
    --full) mode=full ;;
    --soak) mode=soak; soak=${2:?usage: $0 --soak SECONDS} ;;
    *) echo "usage: $0 [--ci | --full | --soak SECONDS]" >&2; exit 64 ;;
esac
case $mode in
    ci) fuzz_secs=60; plain_stress=(--full) ;;
    full) fuzz_secs=600; plain_stress=(--soak 60) ;;
    soak) fuzz_secs=$soak; plain_stress=(--soak "$soak") ;;
esac

out=$root/reliability-results
logs=$out/logs
rm -rf "$logs" "$out/fuzz-corpus" "$out/fuzz-artifacts"
mkdir -p "$logs" "$out/fuzz-corpus" "$out/fuzz-artifacts"
: > "$logs/steps.tsv"
started=$SECONDS

# step NAME COMMAND...: runs one step into logs/NAME.log and records its outcome.
step() {
    local name=$1 start=$SECONDS status=PASS
    shift
    printf '== %-28s' "$name"
    "$@" > "$logs/$name.log" 2>&1 || status=FAIL
    printf '%s\t%s\t%s\n' "$name" "$status" "$((SECONDS - start))" >> "$logs/steps.tsv"
    echo "$status ($((SECONDS - start)) s)"
    if [ $status = FAIL ]; then tail -n 25 "$logs/$name.log" | sed 's/^/   | /'; fi
}

# ---- Tools ---------------------------------------------------------------------
bash scripts/ensure-tools.sh > "$logs/tools.log" 2>&1 || { cat "$logs/tools.log"; exit 1; }
# The sanitizer runtimes must match the Swift toolchain's: use its clang. If
# it has no libFuzzer, fall back to Debian's clang and compiler-rt.
swift_bin=$(dirname "$(readlink -f "$(command -v swift)")")
cc=$swift_bin/clang
fuzz_probe() {
    printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return (int)(d && n); }\n' |
        "$1" -x c -fsanitize=fuzzer,address - -o "$logs/fuzz-probe" >/dev/null 2>&1
}
if ! fuzz_probe "$cc"; then
    echo "== $cc has no libFuzzer runtime: installing clang and libclang-rt-14-dev from Debian"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang libclang-rt-14-dev >/dev/null
    cc=$(command -v clang-14 || command -v clang)
    fuzz_probe "$cc" || { echo "error: no clang with libFuzzer" >&2; exit 1; }
fi
cxx=${cc%clang*}clang++${cc##*clang}
echo "reliability.sh --$mode: clang $cc, fuzz ${fuzz_secs} s, plain stress ${plain_stress[*]}"

# ---- 1. Swift unit tests under sanitizers ---------------------------------------
step swift-tsan env DT_SCHEDULE_QUICK=1 SWIFT_BACKTRACE=enable=no swift test --sanitize=thread --scratch-path .build-tsan
# XCTest on Linux leaks its own test-case objects (reference cycles, found by
# LSan in XCTest's frames only), and a suppression cannot tell them from ours
# because XCTest is on every stack: leaks are checked through the C programs
# below, which run the same core under LSan. Every other ASan check is on.
step swift-asan env DT_SCHEDULE_QUICK=1 SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 swift test --sanitize=address --scratch-path .build-asan

# ---- 2./3. CMake builds: TSan, ASan+UBSan (+ fuzzer), plain ------------------------
configure() { # configure DIR CMAKE-ARGS...
    local dir=$1
    shift
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" && cmake --build "$dir" -j2
}
step build-tsan configure build-tsan -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" -DDT_SANITIZE=thread
step build-asan configure build-asan -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" -DDT_SANITIZE=address -DDT_FUZZ=ON
step build-rel configure build-rel -DDT_VALGRIND_THREADS=ON

# The C harness (label c) under each sanitizer, with each test's own output.
step harness-tsan ctest --test-dir build-tsan -L c -V --timeout 600
step harness-asan ctest --test-dir build-asan -L "c|fuzz" -V --timeout 600

# stress BUILD ARGS...: each stress program, with the build's sanitizer options.
stress() {
    local build=$1 p rc=0
    shift
    for p in transform async pingpong chaos; do
        echo "--- stress_$p $*"
        env $(cat "$build/sanitizer.env" 2>/dev/null) "$build/Tests/stress/stress_$p" "$@" || rc=1
    done
    return $rc
}
step stress-tsan stress build-tsan --full
step stress-asan stress build-asan --full
step stress-rel stress build-rel "${plain_stress[@]}"

# ---- 4. Fuzzing --------------------------------------------------------------------
# New inputs go to reliability-results/fuzz-corpus; the seeds are read only.
# -timeout flags an input that hangs (a deadlock) as a crash.
step fuzz env $(cat build-asan/sanitizer.env) build-asan/Tests/fuzz/fuzz_api \
    -max_total_time="$fuzz_secs" -max_len=512 -timeout=20 -rss_limit_mb=6144 -print_final_stats=1 \
    -artifact_prefix="$out/fuzz-artifacts/" "$out/fuzz-corpus" Tests/fuzz/corpus

# ---- 5. Valgrind's thread checkers -------------------------------------------------
step valgrind-threads ctest --test-dir build-rel -L valgrind-threads -j2 --output-on-failure
# Recorded, not judged: these tests guard their own data with the library's
# locks, which helgrind cannot see (see Tests/valgrind/dt-threads.supp).
helgrind_report() {
    local t
    for t in lock cond; do
        echo "--- helgrind test_$t"
        DT_TEST_UNDER_VALGRIND=1 valgrind --tool=helgrind --num-callers=12 --child-silent-after-fork=yes \
            --suppressions=Tests/valgrind/dt-threads.supp build-rel/test_$t 2>&1
    done
    return 0
}
step helgrind-report helgrind_report

# ---- Report ------------------------------------------------------------------------
python3 scripts/reliability_report.py --mode "$mode" --logs "$logs" --seeds Tests/fuzz/corpus \
    --corpus "$out/fuzz-corpus" --wall $((SECONDS - started)) --out "$out/reliability.json" |
    tee "$out/summary.txt"
exit "${PIPESTATUS[0]}"
