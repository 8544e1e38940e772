#!/usr/bin/env bash
# Builds everything (the Swift library, the C library and examples, the Python
# extension in .venv) and runs the demo: duplicity's asynchronous volume upload,
# simulated first in Python on dup_threading, then in C over the C ABI.
# Extra arguments go to both demos, e.g. `bash scripts/demo.sh --volumes 60 --workers 6`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-tools.sh
echo "== building the C library (Embedded Swift) and the C examples, via CMake"
cmake --preset default >/dev/null
cmake --build --preset default >/dev/null
echo "== building the Python package (pyproject.toml) and installing it into .venv"
.venv/bin/python -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps .

echo
echo "== Python: bindings/python/examples/upload_demo.py"
status=0
.venv/bin/python bindings/python/examples/upload_demo.py "$@" || status=$?
echo
echo "== C: examples/c/upload_demo.c"
./build/upload_demo "$@" || status=$?
exit "$status"
