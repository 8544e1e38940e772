#!/usr/bin/env bash
# Compares two builds of libdupthreading side by side with the C benchmark
# (benchmarks/c/bench.c): the same benchmark program, compiled once against
# each library, run alternately (A B, B A, A B, ...) so that the drift of a
# noisy machine hits both alike. Each run measures the dt_ calls and their
# hand-written pthread baselines interleaved, as benchmarks/run.py does.
#
#   bash benchmarks/compare_libraries.sh [options] [LABEL=]LIB_A [LABEL=]LIB_B
#     --runs N        runs of the benchmark program per library (default 6)
#     --rounds N      rounds per run (bench.c --rounds; default 10)
#     --sample-ms MS  target length of one sample (bench.c --sample-ms; default 20)
#     --only LIST     benchmarks to run (bench.c --only; default: the uncontended rows)
#     --json FILE     also write every sample to FILE
#
# LIB is a libdupthreading shared library (any file name); LABEL names it in
# the table (default: A and B). Prints a Markdown table: per library and
# benchmark, the median ns/op of the dt_ call and of the pthread baseline
# over all samples, and "vs pthread", the median over the runs of
# (baseline median / dt median), with the lowest and highest run in
# brackets: 1.00x is a tie, higher is faster. The last column is B's dt
# median relative to A's (below 1.00: B is faster).
#
# Example (the SwiftPM library against the embedded one):
#   cmake -S . -B build-swiftpm -DDT_LIBRARY=swiftpm -DBUILD_TESTING=OFF -DDT_BUILD_EXAMPLES=OFF
#   cmake --build build-swiftpm && cmake --build build
#   bash benchmarks/compare_libraries.sh swiftpm=build-swiftpm/lib/libdupthreading.so.1 \
#       embedded=build/lib/libdupthreading.so.1
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

runs=6
rounds=10
sample_ms=20
only=value_get,value_set,transform,value_get_hooked,python_get_path,python_set_path,abi_call,lock_acquire_release,rlock_acquire_release,with_lock
json=
libs=()
while (($#)); do
    case $1 in
        --runs) runs=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --sample-ms) sample_ms=$2; shift 2 ;;
        --only) only=$2; shift 2 ;;
        --json) json=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "unknown option $1" >&2; exit 64 ;;
        *) libs+=("$1"); shift ;;
    esac
done
((${#libs[@]} == 2)) || { echo "usage: $0 [options] [LABEL=]LIB_A [LABEL=]LIB_B (see --help)" >&2; exit 64; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
labels=()
for i in 0 1; do
    spec=${libs[$i]}
    if [[ $spec == *=* ]]; then label=${spec%%=*}; lib=${spec#*=}; else label=$([ $i = 0 ] && echo A || echo B); lib=$spec; fi
    [ -f "$lib" ] || { echo "error: no library $lib" >&2; exit 1; }
    labels+=("$label")
    dir=$work/$i
    mkdir -p "$dir"
    # Under its soname, so the program loads exactly this file (through its RUNPATH).
    cp -L "$lib" "$dir/libdupthreading.so.1"
    ln -s libdupthreading.so.1 "$dir/libdupthreading.so"
    # As benchmarks/run.py builds it.
    gcc -O2 -std=c11 -Wall -Wextra -pthread -I"$root/include" "$root/benchmarks/c/bench.c" \
        -L"$dir" -ldupthreading -Wl,-rpath,"$dir" -o "$dir/bench_c"
    printf '%s: %s (%d bytes)\n' "$label" "$(readlink -f "$lib")" "$(stat -L -c %s "$lib")" >&2
done

echo "running: $runs runs per library, alternating, each: bench_c --only $only --rounds $rounds --sample-ms $sample_ms" >&2
: > "$work/samples.jsonl"
for ((r = 0; r < runs; r++)); do
    if ((r % 2 == 0)); then order=(0 1); else order=(1 0); fi
    for i in "${order[@]}"; do
        echo "  run $((r + 1))/$runs: ${labels[$i]}" >&2
        "$work/$i/bench_c" --only "$only" --rounds "$rounds" --sample-ms "$sample_ms" 2>/dev/null |
            LIB=$i RUN=$r python3 -c '
import json, os, sys
for line in sys.stdin:
    o = json.loads(line)
    if o.get("check") is not None and not o.get("ok"):
        sys.exit("bench_c check failed: " + line)
    if "bench" in o:
        o["lib"] = int(os.environ["LIB"]); o["run"] = int(os.environ["RUN"])
        print(json.dumps(o))
' >> "$work/samples.jsonl"
    done
done
[ -z "$json" ] || cp "$work/samples.jsonl" "$json"

LABEL_A=${labels[0]} LABEL_B=${labels[1]} python3 - "$work/samples.jsonl" <<'EOF'
import collections, json, os, statistics, sys

samples = [json.loads(l) for l in open(sys.argv[1])]
labels = [os.environ["LABEL_A"], os.environ["LABEL_B"]]
# The pthread (or other non-dt) contender each dt_ contender is compared with.
by = collections.defaultdict(list)        # (lib, bench, contender) -> values
per_run = collections.defaultdict(list)   # (lib, bench, contender, run) -> values
order = []
for s in samples:
    key = (s["lib"], s["bench"], s["contender"])
    by[key].append(s["value"])
    per_run[key + (s["run"],)].append(s["value"])
    if s["bench"] not in order:
        order.append(s["bench"])

def contenders(lib, bench):
    names = [c for (l, b, c) in by if l == lib and b == bench]
    ours = [c for c in names if c.startswith("dt")]
    base = [c for c in names if not c.startswith("dt")]
    return (ours[0] if ours else None), (base[0] if base else None)

def med(xs):
    return statistics.median(xs) if xs else float("nan")

runs = sorted({s["run"] for s in samples})
print(f"| benchmark | {labels[0]}: dt ns/op | pthread | vs pthread | {labels[1]}: dt ns/op | pthread | vs pthread | {labels[1]} / {labels[0]} (dt time) |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for bench in order:
    cells = []
    dt_meds = []
    for lib in (0, 1):
        ours, base = contenders(lib, bench)
        dt = med(by[(lib, bench, ours)])
        dt_meds.append(dt)
        if base:
            bl = med(by[(lib, bench, base)])
            ratios = [med(per_run[(lib, bench, base, r)]) / med(per_run[(lib, bench, ours, r)])
                      for r in runs if per_run[(lib, bench, ours, r)] and per_run[(lib, bench, base, r)]]
            spread = f" ({min(ratios):.2f}-{max(ratios):.2f})" if len(ratios) > 1 else ""
            cells += [f"{dt:.2f}", f"{bl:.2f}", f"{med(ratios):.2f}x{spread}"]
        else:
            cells += [f"{dt:.2f}", "", ""]
    rel = dt_meds[1] / dt_meds[0] if dt_meds[0] else float("nan")
    print(f"| {bench} | " + " | ".join(cells) + f" | {rel:.2f} |")
EOF
