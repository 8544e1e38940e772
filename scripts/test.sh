#!/usr/bin/env bash
# Builds everything and runs every test suite: the Swift unit tests (plain and
# under ThreadSanitizer; they include the deterministic-schedule suites), the
# spin model check of the condition protocol (models/check.sh), the C harness through CTest (including valgrind
# memcheck and the install checks), the release (scripts/release.sh: sdist,
# wheels, C tarball, and its verification, which builds C programs against the
# unpacked tarball), the Python tests with pytest against each CPython
# version's wheel in a fresh venv with no Swift toolchain (scripts/test-wheels.sh,
# one suite per version), the reliability checks in CI mode (sanitizer builds,
# stress, 60 s of fuzzing) and the benchmarks in quick mode (no timing asserts:
# it only proves they still run).
#
#   bash scripts/test.sh            # everything
#   SKIP_TSAN=1 bash scripts/test.sh  # without the ThreadSanitizer pass
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-tools.sh

results=()
run_suite() {  # run_suite NAME COMMAND...: runs one suite, records its outcome
    local name=$1; shift
    echo
    echo "================ $name ================"
    local start=$SECONDS
    if "$@"; then
        results+=("PASS  $name ($((SECONDS - start)) s)")
    else
        results+=("FAIL  $name ($((SECONDS - start)) s)")
    fi
}

# No crash reporter: a test traps on purpose in a forked child, and a reporter
# it started could outlive it holding the runner's output open.
run_suite "Swift tests" env SWIFT_BACKTRACE=enable=no swift test
if [ -z "${SKIP_TSAN:-}" ]; then
    # The deterministic-schedule suites run one thread at a time: a small
    # budget of schedules under the sanitizer (the plain run explores fully).
    run_suite "Swift tests under ThreadSanitizer" \
        env DT_SCHEDULE_QUICK=1 SWIFT_BACKTRACE=enable=no swift test --sanitize=thread --scratch-path .build-tsan
fi
run_suite "Model check of the condition protocol (spin)" bash models/check.sh
run_suite "C tests (CTest)" cmake --workflow --preset default
run_suite "Release: sdist, wheels, C tarball, verified (scripts/release.sh)" bash scripts/release.sh
source scripts/python-versions.sh
for v in "${DT_PYTHON_VERSIONS[@]}"; do
    run_suite "Python tests (pytest), CPython $v wheel" bash scripts/test-wheels.sh "$v"
done
run_suite "Reliability (sanitizers, stress, fuzzing), CI mode" bash scripts/reliability.sh --ci
run_suite "Benchmarks, quick mode" python3 benchmarks/run.py --quick --out bench-results/quick

echo
echo "================ summary ================"
printf '%s\n' "${results[@]}"
failed=0
for r in "${results[@]}"; do [[ $r == FAIL* ]] && failed=$((failed + 1)); done
echo "suites: $(( ${#results[@]} - failed )) passed, $failed failed"
exit $((failed > 0))
