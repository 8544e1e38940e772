#!/usr/bin/env bash
# Builds everything and runs every test suite: the Swift unit tests (plain and
# under ThreadSanitizer), the C harness through CTest (including valgrind
# memcheck and the install checks), the Python tests with pytest against the
# extension installed in .venv, the reliability checks in CI mode (sanitizer
# builds, stress, 60 s of fuzzing) and the benchmarks in quick mode (no timing
# asserts: it only proves they still run).
#
#   bash scripts/test.sh            # everything
#   SKIP_TSAN=1 bash scripts/test.sh  # without the ThreadSanitizer pass
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

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

python_tests() {
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps ./bindings/python
    # From another directory, so that the installed package is what gets imported.
    (cd /tmp && "$root/.venv/bin/python" -m pytest -q -p no:cacheprovider "$root/bindings/python/tests")
}

run_suite "Swift tests" swift test
if [ -z "${SKIP_TSAN:-}" ]; then
    # The deterministic-schedule suites run one thread at a time: a small
    # budget of schedules under the sanitizer (the plain run explores fully).
    run_suite "Swift tests under ThreadSanitizer" \
        env DT_SCHEDULE_QUICK=1 swift test --sanitize=thread --scratch-path .build-tsan
fi
run_suite "C tests (CTest)" cmake --workflow --preset default
run_suite "Python tests (pytest)" python_tests
run_suite "Reliability (sanitizers, stress, fuzzing), CI mode" bash scripts/reliability.sh --ci
run_suite "Benchmarks, quick mode" python3 benchmarks/run.py --quick --out bench-results/quick

echo
echo "================ summary ================"
printf '%s\n' "${results[@]}"
failed=0
for r in "${results[@]}"; do [[ $r == FAIL* ]] && failed=$((failed + 1)); done
echo "suites: $(( ${#results[@]} - failed )) passed, $failed failed"
exit $((failed > 0))
