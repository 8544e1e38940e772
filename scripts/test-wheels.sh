#!/usr/bin/env bash
# Tests the wheels in dist/ (from scripts/release.sh) the way a user gets them.
# For each CPython version: a fresh venv of that interpreter, pytest from PyPI,
# the version's wheel installed with the Swift toolchain out of reach (not on
# PATH, SWIFT and LD_LIBRARY_PATH unset), and the project's pytest suite
# (bindings/python/tests, with the example it runs, copied out of the source
# tree) run from a temporary directory against the installed package.
#
#   bash scripts/test-wheels.sh              # CPython 3.10, 3.11, 3.12 and 3.13
#   bash scripts/test-wheels.sh 3.12 3.13    # these only
#
# A version with no cp3XY wheel in dist/ is tested with the abi3 wheel there,
# if there is one (built with DTPY_LIMITED_API, docs/packaging.md).
#
# Prints one result line per version and, for a version whose suite failed,
# the tests that failed. Exits non-zero if any version failed or could not run.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
source scripts/python-versions.sh
versions=("$@")
((${#versions[@]})) || versions=("${DT_PYTHON_VERSIONS[@]}")

# PATH without the Swift toolchain: no directory that holds swift or swiftc.
clean_path=
IFS=: read -ra path_dirs <<< "$PATH"
for d in "${path_dirs[@]}"; do
    [ -n "$d" ] || continue
    if [ -e "$d/swift" ] || [ -e "$d/swiftc" ] || [[ $d == /opt/swift* ]]; then
        continue
    fi
    clean_path+=${clean_path:+:}$d
done
# What every command of a test runs in.
sandbox() {
    env -u SWIFT -u LD_LIBRARY_PATH -u LD_PRELOAD -u PYTHONPATH -u PYTHONHOME -u VIRTUAL_ENV \
        PATH="$clean_path" "$@"
}
if found=$(sandbox bash -c 'command -v swift || command -v swiftc'); then
    echo "error: swift is still reachable without the toolchain's directories: $found" >&2
    exit 1
fi

results=()
failed=0

# test_version X.Y: returns 0 if the suite passed against the installed wheel.
test_version() {
    local v=$1 tag py wheel work status=0
    tag=cp${v/./}
    echo
    echo "==== CPython $v"
    py=$(find_python "$v") || { echo "no CPython $v interpreter (pyenv's or python$v on PATH)"; return 1; }
    mapfile -t wheel < <(find "$root/dist" -maxdepth 1 -name "dup_threading-*-$tag-$tag-*.whl")
    # No wheel for this version: an abi3 wheel (DTPY_LIMITED_API) serves them all.
    ((${#wheel[@]})) || mapfile -t wheel < <(find "$root/dist" -maxdepth 1 -name "dup_threading-*-cp3*-abi3-*.whl")
    if ((${#wheel[@]} != 1)); then
        echo "expected one $tag (or abi3) wheel in dist/ (run bash scripts/release.sh), found ${#wheel[@]}"
        return 1
    fi
    work=$(mktemp -d "/tmp/dt-wheel-$tag.XXXXXX")
    echo "interpreter $py ($("$py" -c 'import platform; print(platform.python_version())'))"
    echo "wheel       ${wheel[0]#"$root/"}"
    echo "work dir    $work (swift: not reachable)"

    sandbox "$py" -m venv "$work/venv" &&
        sandbox "$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check pytest &&
        sandbox "$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            --no-index --no-deps "${wheel[0]}" || { rm -rf "$work"; echo "could not set up the venv"; return 1; }

    # The suite and the example it runs, outside the tree; an empty pytest.ini
    # there makes that copy pytest's rootdir.
    mkdir -p "$work/suite" "$work/run"
    cp -r bindings/python/tests bindings/python/examples "$work/suite/"
    find "$work/suite" -name __pycache__ -prune -exec rm -rf {} +
    printf '[pytest]\n' > "$work/suite/pytest.ini"

    # The package and the library are the installed ones, from the venv.
    (cd "$work/run" && sandbox "$work/venv/bin/python" - "$work/venv" <<'EOF'
import sys
from pathlib import Path

import dup_threading

venv = Path(sys.argv[1]).resolve()
package = Path(dup_threading.__file__).resolve().parent
maps = Path("/proc/self/maps").read_text().splitlines()
library = sorted({line.split()[-1] for line in maps if "libdupthreading" in line})
swift = sorted({line.split()[-1] for line in maps if "libswift" in line})
print(f"imported    {package} (library {dup_threading.LIBRARY_VERSION})")
print(f"loaded      {', '.join(library)}")
assert venv in package.parents, f"dup_threading was imported from {package}, not from the venv"
assert library == [str(package / "libdupthreading.so.1")], f"libdupthreading loaded from {library}"
assert not swift, f"a Swift runtime library was loaded: {swift}"
EOF
    ) || { rm -rf "$work"; return 1; }

    (cd "$work/run" && sandbox "$work/venv/bin/python" -m pytest -p no:cacheprovider -q -rfE \
        "$work/suite/tests") || status=$?
    rm -rf "$work"
    return $status
}

for v in "${versions[@]}"; do
    start=$SECONDS
    log=$(mktemp)
    test_version "$v" 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    outcome=$(grep -E '^(=+ )?[0-9]+ (passed|failed)|^(=+ )?no tests ran' "$log" | tail -n 1 | sed 's/=//g; s/^ *//; s/ *$//')
    fails=$(grep -E '^(FAILED|ERROR) ' "$log" | sed 's/ - .*//')
    rm -f "$log"
    if ((status == 0)); then
        results+=("PASS  CPython $v: ${outcome:-?} ($((SECONDS - start)) s)")
    else
        failed=$((failed + 1))
        results+=("FAIL  CPython $v: ${outcome:-did not run} ($((SECONDS - start)) s)")
        while read -r f; do [ -n "$f" ] && results+=("        $f"); done <<< "$fails"
    fi
done

echo
echo "==== wheel tests"
printf '%s\n' "${results[@]}"
exit $((failed > 0))
