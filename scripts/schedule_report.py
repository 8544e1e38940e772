#!/usr/bin/env python3
"""Turns the JSON lines the deterministic-schedule tests append to
$DT_SCHEDULE_REPORT into a Markdown table (for docs/reliability.md).

    DT_SCHEDULE_REPORT=/tmp/schedules.jsonl swift test --filter ScheduleTests
    python3 scripts/schedule_report.py /tmp/schedules.jsonl
"""
import json
import sys


def main(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    print("| Scenario | Threads | Systematic schedules (bound) | Random schedules (PCT + uniform) | Violations | Time |")
    print("| --- | ---: | --- | ---: | --- | ---: |")
    total = 0
    for r in rows:
        scope = "all" if r["exhaustive"] else ("all with 1, then budget" if r.get("exhaustive_bound_1") else "budget")
        systematic = f"{r['systematic']:,} ({scope}, bound {r['preemption_bound']})"
        violation = r["failure"] or "none"
        print(f"| {r['scenario']} | {r['threads']} | {systematic} | {r['random']:,} | {violation} | {r['ms'] / 1000:.1f} s |")
        total += r["systematic"] + r["random"]
    failures = sum(1 for r in rows if r["failure"])
    print(f"\n{len(rows)} scenarios, {total:,} schedules, {failures} with a violation.")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/dev/stdin")
