"""A long mixed loop of dup_threading operations keeps memory and reference
counts flat.

Runs reliability_soak_child.py (see its docstring for the mix) in a fresh
interpreter: 200,000 operations in a normal run, 1,000,000 with
DT_RELIABILITY_FULL=1. Checks, between the end of the warm-up and the end of
the loop: RSS (from /proc/self/statm) grows less than 4 MiB; sys.getrefcount
of the objects the loop stores (and of the Value, locks, condition and the
payload class) unchanged; the number of objects the GC tracks unchanged (to a
few); sys.gettotalrefcount unchanged (debug builds only: skipped on a
release build); and, in a second pass under tracemalloc, Python's traced
memory grows less than 64 KiB.
"""

import sys

import pytest
from reliability_support import FULL, child_json, report, run_child

CHILD = "reliability_soak_child.py"
MiB = 1024 * 1024
OPERATIONS = 1_000_000 if FULL else 200_000

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")


@pytest.fixture(scope="module")
def soak():
    result = run_child(CHILD, [OPERATIONS], timeout=170)
    data = child_json(result, CHILD)
    before, after = data["before"], data["after"]
    total = before["totalrefcount"]
    report(
        f"Soak: {data['operations']:,} mixed operations" + (" (full)" if FULL else ""),
        {
            "operations (measured loop)": f"{data['operations']:,} in {data['loop_seconds']} s "
            f"(+{data['warmup_operations']:,} warm-up, +{data['traced_operations']:,} under tracemalloc)",
            "mix (all passes)": ", ".join(f"{k} {v:,}" for k, v in data["kinds"].items()),
            "RSS after warm-up": f"{before['rss'] / MiB:.2f} MiB",
            "RSS at the end": f"{after['rss'] / MiB:.2f} MiB",
            "RSS growth": f"{(after['rss'] - before['rss']) / 1024:+.0f} KiB",
            "refcounts before": before["refcounts"],
            "refcounts after": after["refcounts"],
            "GC-tracked objects": f"{before['gc_objects']} -> {after['gc_objects']}",
            "sys.gettotalrefcount": "n/a (release build)" if total is None
            else f"{total} -> {after['totalrefcount']}",
            "tracemalloc traced memory": f"{data['traced_before']} -> {data['traced_after']} bytes "
            f"({data['traced_after'] - data['traced_before']:+d}; peak {data['traced_peak']})",
            "exception objects alive at the end": data["live_exceptions"],
            "background thread holds (contention)": data["background_holds"],
        },
    )
    return data


def test_ran_every_operation_with_no_thread_stuck(soak):
    assert soak["operations"] >= OPERATIONS
    assert soak["threads_stuck"] == 0
    assert all(count > 0 for count in soak["kinds"].values())


def test_rss_flat(soak):
    grown = soak["after"]["rss"] - soak["before"]["rss"]
    assert grown < 4 * MiB, f"RSS grew by {grown} bytes over {soak['operations']:,} operations"


def test_refcounts_of_stored_objects_flat(soak):
    assert soak["after"]["refcounts"] == soak["before"]["refcounts"]
    assert soak["live_exceptions"] == 0


def test_gc_tracked_objects_flat(soak):
    assert abs(soak["after"]["gc_objects"] - soak["before"]["gc_objects"]) <= 50


def test_total_refcount_flat(soak):
    if soak["before"]["totalrefcount"] is None:
        pytest.skip("sys.gettotalrefcount exists only in debug builds of CPython")
    assert abs(soak["after"]["totalrefcount"] - soak["before"]["totalrefcount"]) <= 100


def test_tracemalloc_flat(soak):
    grown = soak["traced_after"] - soak["traced_before"]
    assert grown < 64 * 1024, f"traced Python memory grew by {grown} bytes"
