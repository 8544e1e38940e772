#!/usr/bin/env python3
"""Turns the logs of scripts/reliability.sh into reliability.json and a summary.

Every figure comes from a log of this run: the stress programs' RESULT lines,
the harness checks each C test prints, XCTest's counts, libFuzzer's final
stats and the FUZZ_STATS line of Tests/fuzz/fuzz_api.c, valgrind's error
summaries. Exits 1 if a step failed or a result was lost.
"""
import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys

STATUS_NAMES = ["OK", "EINVAL", "EBADHANDLE", "ENOTOWNER", "ENOTLOCKED", "EBUSY", "ETIMEDOUT",
                "EINTERRUPTED", "EALREADY", "EFAILED", "ENOTSUP", "ENOMEM", "EABANDONED", "callback"]
MISUSE = ["EINVAL", "EBADHANDLE", "ENOTOWNER", "ENOTLOCKED", "EALREADY"]


def read(logs, name):
    path = os.path.join(logs, name + ".log")
    return open(path, errors="replace").read() if os.path.exists(path) else ""


def machine():
    def first_line(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout.splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "unknown"
    mem = re.search(r"MemTotal:\s+(\d+)", open("/proc/meminfo").read())
    osname = re.search(r'PRETTY_NAME="([^"]*)"', open("/etc/os-release").read())
    cpu = re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read())
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu.group(1) if cpu else "unknown",
        "memory_gib": round(int(mem.group(1)) / 2**20, 1) if mem else None,
        "os": osname.group(1) if osname else platform.platform(),
        "kernel": platform.release(),
        "swift": first_line(["swift", "--version"]),
        "valgrind": first_line(["valgrind", "--version"]),
        "commit": first_line(["git", "rev-parse", "--short", "HEAD"]),
        "uncommitted_changes": first_line(["sh", "-c", "git status --porcelain | wc -l"]),
    }


def xctest(text):
    runs = re.findall(r"Executed (\d+) tests?, with (\d+) failures?", text)
    if not runs:
        return {"tests": 0, "failures": None}
    tests, failures = runs[-1]  # the last line is the whole suite
    return {"tests": int(tests), "failures": int(failures)}


def harness(text):
    programs = {m[0]: {"checks_passed": int(m[1]), "checks_failed": int(m[2])}
                for m in re.findall(r"^\d+: (\w+): (\d+) passed, (\d+) failed", text, re.M)}
    return {"programs": len(programs),
            "checks_passed": sum(p["checks_passed"] for p in programs.values()),
            "checks_failed": sum(p["checks_failed"] for p in programs.values()),
            "per_program": programs}


def stress(text):
    results = {}
    for line in re.findall(r"^RESULT (\{.*\})$", text, re.M):
        r = json.loads(line)
        results[r["program"]] = r
    return results


def fuzz(text, seeds, corpus):
    def stat(name):
        m = re.search(r"stat::%s:\s+(\d+)" % name, text)
        return int(m.group(1)) if m else None
    last = re.findall(r"^#\d+\s+\w+\s+cov: (\d+) ft: (\d+)", text, re.M)
    seconds = re.search(r"Done \d+ runs in (\d+) second", text)
    counts = re.search(r"FUZZ_STATS (\{.*\})", text)
    status = dict(zip(STATUS_NAMES, json.loads(counts.group(1))["status_counts"])) if counts else {}
    return {
        "seconds": int(seconds.group(1)) if seconds else None,
        "executions": stat("number_of_executed_units"),
        "executions_per_second": stat("average_exec_per_sec"),
        "new_units_added": stat("new_units_added"),
        "seed_corpus_files": len(os.listdir(seeds)),
        "corpus_files_after": len(os.listdir(corpus)),
        "coverage_edges": int(last[-1][0]) if last else None,
        "coverage_features": int(last[-1][1]) if last else None,
        "crashes": len(re.findall(r"Test unit written to", text)),
        "calls_by_status": status,
        "calls": sum(status.values()) if status else None,
        "misuse_statuses": sum(status.get(s, 0) for s in MISUSE) if status else None,
    }


def valgrind(threads_text, report_text):
    m = re.search(r"(\d+)% tests passed(?:, (\d+) tests? failed)? out of (\d+)", threads_text)
    report = {}
    for name, body in re.findall(r"^--- helgrind (\w+)\n(.*?)(?=^--- helgrind |\Z)", report_text, re.M | re.S):
        summaries = re.findall(r"ERROR SUMMARY: (\d+) errors from (\d+) contexts \(suppressed: (\d+)", body)
        summary = summaries[-1] if summaries else None  # the parent's, after any fork child's
        # The function of each racing access: the frame right after "Locks held".
        where = sorted(set(re.findall(r"Locks held: [^\n]*\n==\d+==\s+at 0x[0-9A-F]+: (\w+)", body)))
        report[name] = {"errors": int(summary[0]) if summary else None,
                        "contexts": int(summary[1]) if summary else None,
                        "suppressed": int(summary[2]) if summary else None,
                        "reported_in_test_functions": where}
    return {"tests": int(m.group(3)) if m else 0, "failed": int(m.group(2) or 0) if m else None,
            "helgrind_on_tests_guarded_by_dt_locks": report}


def main():
    ap = argparse.ArgumentParser()
    for a in ("--mode", "--logs", "--seeds", "--corpus", "--out"):
        ap.add_argument(a, required=True)
    ap.add_argument("--wall", type=int, required=True)
    args = ap.parse_args()
    logs = args.logs
    steps = [dict(zip(("name", "status", "seconds"), l.rstrip("\n").split("\t")))
             for l in open(os.path.join(logs, "steps.tsv"))]
    for s in steps:
        s["seconds"] = int(s["seconds"])
    stress_runs = {b: stress(read(logs, "stress-" + b)) for b in ("tsan", "asan", "rel")}
    chaos = [r["chaos"] for r in stress_runs.values() if "chaos" in r]
    asyncs = [r["async"] for r in stress_runs.values() if "async" in r]
    fz = fuzz(read(logs, "fuzz"), args.seeds, args.corpus)
    lost = {
        "async_lost_results": sum(r["lost_results"] for r in asyncs),
        "async_wrong_results": sum(r["wrong_results"] + r["wrong_run_counts"] + r["wrong_frees"] for r in asyncs),
        "pingpong_lost_wakeups": sum(r.get("pingpong", {}).get("lost_wakeups", 0) for r in stress_runs.values()),
        "transform_count_mismatch": sum(r.get("transform", {}).get("count_mismatch", 0) for r in stress_runs.values()),
        "chaos_counter_mismatch": sum(r["counter_mismatch"] for r in chaos),
    }
    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "mode": args.mode,
        "wall_seconds": args.wall,
        "machine": machine(),
        "steps": steps,
        "swift_tests": {"thread": xctest(read(logs, "swift-tsan")), "address": xctest(read(logs, "swift-asan"))},
        "c_harness": {"thread": harness(read(logs, "harness-tsan")), "address+undefined": harness(read(logs, "harness-asan"))},
        "stress": {"thread": stress_runs["tsan"], "address+undefined": stress_runs["asan"], "plain": stress_runs["rel"]},
        "fuzz": fz,
        "faults_injected": {
            "chaos_timeouts": sum(r["timeouts"] for r in chaos),
            "chaos_interrupted_waits": sum(r["interrupted"] for r in chaos),
            "chaos_cond_interrupts": sum(r["cond_interrupts"] for r in chaos),
            "chaos_signals": sum(r["signals"] for r in chaos),
            "chaos_misuse_calls": sum(r["misuse_calls"] for r in chaos),
            "async_abandoned_callers_seen": sum(r["abandoned_seen"] for r in asyncs),
            "async_callers_run_twice": sum(r["double_runs"] for r in asyncs),
            "fuzz_calls_answered_with_a_misuse_status": fz["misuse_statuses"],
        },
        "lost": lost,
        "zero_lost": all(v == 0 for v in lost.values()),
        "valgrind_threads": valgrind(read(logs, "valgrind-threads"), read(logs, "helgrind-report")),
    }
    report["ok"] = all(s["status"] == "PASS" for s in steps) and report["zero_lost"] and fz["crashes"] == 0
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    print_summary(report, args.out)
    return 0 if report["ok"] else 1


def print_summary(r, out):
    print("\n================ reliability summary (%s, %s) ================" % (r["mode"], r["date"]))
    m = r["machine"]
    print("machine: %s CPUs, %s GiB, %s, %s" % (m["cpus"], m["memory_gib"], m["os"], m["swift"]))
    for s in r["steps"]:
        print("  %-4s %-18s %5d s" % (s["status"], s["name"], s["seconds"]))
    for san, t in r["swift_tests"].items():
        print("Swift tests under %-18s %4d tests, %s failures" % (san, t["tests"], t["failures"]))
    for san, h in r["c_harness"].items():
        print("C harness under %-20s %4d programs, %6d checks passed, %d failed"
              % (san, h["programs"], h["checks_passed"], h["checks_failed"]))
    for build, runs in r["stress"].items():
        t, a, p, c = (runs.get(k, {}) for k in ("transform", "async", "pingpong", "chaos"))
        print("stress %-27s transforms %s (threads %s, mismatch %s); splits %s, deliveries %s, lost %s; "
              "round trips %s, lost wake-ups %s; chaos %s s, %s waits"
              % (build + ":", t.get("ops_total"), "/".join(str(x["threads"]) for x in t.get("configs", [])),
                 t.get("count_mismatch"), a.get("splits"), a.get("deliveries"), a.get("lost_results"),
                 p.get("round_trips"), p.get("lost_wakeups"), c.get("seconds"), c.get("chaos_waits")))
    f = r["fuzz"]
    print("fuzz: %s executions in %s s (%s exec/s), corpus %s seeds -> %s files, coverage %s edges, %s crashes"
          % (f["executions"], f["seconds"], f["executions_per_second"], f["seed_corpus_files"],
             f["corpus_files_after"], f["coverage_edges"], f["crashes"]))
    print("faults injected: " + ", ".join("%s %s" % (k, v) for k, v in r["faults_injected"].items()))
    print("lost: " + ", ".join("%s %s" % (k, v) for k, v in r["lost"].items()) + ("  (zero lost)" if r["zero_lost"] else ""))
    v = r["valgrind_threads"]
    print("helgrind+DRD: %s tests, %s failed; helgrind on tests guarded by dt locks (not judged): %s"
          % (v["tests"], v["failed"], ", ".join("%s %s errors" % (k, x["errors"])
                                                  for k, x in v["helgrind_on_tests_guarded_by_dt_locks"].items())))
    print("wall time: %d s; %s; figures in %s" % (r["wall_seconds"], "ALL OK" if r["ok"] else "FAILED", out))


if __name__ == "__main__":
    sys.exit(main())
