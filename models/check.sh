#!/usr/bin/env bash
# Checks the Promela model of the condition protocol (models/condition.pml)
# exhaustively with spin, for notify(1), notify(2) and notify(3): every
# reachable state, safety properties (assertions) and invalid end states
# (deadlocks). Needs spin and a C compiler (scripts/ensure-tools.sh installs
# spin). Prints one line per check and exits non-zero on any violation.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for n in 1 2 3; do
    (cd "$work" && spin -DNOTIFY_N=$n -a "$OLDPWD/condition.pml" >/dev/null &&
        gcc -O2 -DSAFETY -DNOREDUCE -o pan pan.c 2>/dev/null &&
        ./pan -m100000 > "pan-$n.txt" 2>&1) || true
    errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$work/pan-$n.txt")
    states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' "$work/pan-$n.txt")
    echo "condition.pml notify($n): ${states:-?} states, ${errors:-?} errors"
    if [ "${errors:-1}" != 0 ]; then
        status=1
        grep -E "assertion violated|invalid end state|pan:" "$work/pan-$n.txt" | head -5
    fi
done
exit $status
