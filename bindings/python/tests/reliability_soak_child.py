"""Child process of test_reliability_soak.py: a long mixed loop of
dup_threading operations must keep memory and reference counts flat.

Usage: reliability_soak_child.py OPERATIONS

Phase 1 (RSS and reference counts): OPERATIONS/10 operations of warm-up, then
the baseline (RSS from /proc/self/statm, sys.getrefcount of the objects the
loop stores, the number of objects the GC tracks, sys.gettotalrefcount on a
debug build), then OPERATIONS operations, then the same figures again.
Phase 2 (tracemalloc): the same loop, OPERATIONS/2 operations, with Python's
allocations traced; the traced memory must not grow.

One operation is one call from the mix below: Value get/set/transform (also a
transform that raises), with_lock on a Value, Lock, RLock and Condition,
nested `with value:` reads and writes, interruptably_wait, async_split run on
this thread (success, failure, caller discarded without being called) and on
a worker thread (this thread blocked in waiter()). A background thread keeps
holding the same Value, Lock, RLock and Condition for 0.1 ms every ~2 ms,
so that some calls find them busy and take the waiting path.

Prints one JSON line with the figures.
"""

import faulthandler
import gc
import json
import os
import queue
import sys
import threading
import time
import tracemalloc

import dup_threading as dt

N = int(sys.argv[1])
faulthandler.dump_traceback_later(600, exit=True)


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Payload:
    pass


class Boom(Exception):
    live = 0

    def __init__(self, *args):
        super().__init__(*args)
        Boom.live += 1

    def __del__(self):
        Boom.live -= 1


A, B = Payload(), Payload()
value = dt.Value(A)
lock, rlock, cond = dt.Lock(), dt.RLock(), dt.Condition()


def swap(x):
    return B if x is A else A


def get_a():
    return A


def boom(*_):
    raise Boom(A)


def nothing():
    return None


def op_get():
    value.get()


def op_set():
    value.set(B)
    value.set(A)  # (two calls: counted as two operations by the loop below)


def op_transform():
    value.transform(swap)


def op_transform_raises():
    try:
        value.transform(boom)
    except Boom:
        pass


def op_with_lock_value():
    dt.with_lock(value, value.get)


def op_with_lock_lock():
    dt.with_lock(lock, get_a)


def op_with_lock_rlock():
    dt.with_lock(rlock, get_a)


def op_nested():
    with value:
        value.set(value.get())


def op_condition():
    with cond:
        cond.notify()
        dt.interruptably_wait(cond, get_a)


def op_with_lock_condition():
    dt.with_lock(cond, nothing)


def op_split():
    waiter, caller = dt.async_split(get_a)
    caller()
    waiter()


def op_split_fails():
    waiter, caller = dt.async_split(boom)
    caller()
    try:
        waiter()
    except Boom:
        pass


def op_split_abandoned():
    waiter, caller = dt.async_split(get_a)
    del caller
    try:
        waiter()
    except RuntimeError:
        pass


jobs = queue.SimpleQueue()


def worker():
    while True:
        caller = jobs.get()
        if caller is None:
            return
        caller()
        del caller


def op_split_on_worker():
    waiter, caller = dt.async_split(get_a)
    jobs.put(caller)
    del caller
    waiter(timeout=30)


# (operation, how many operations it counts for)
MIX = [
    (op_get, 1),
    (op_set, 2),
    (op_transform, 1),
    (op_get, 1),
    (op_transform, 1),
    (op_transform_raises, 1),
    (op_with_lock_value, 1),
    (op_with_lock_lock, 1),
    (op_with_lock_rlock, 1),
    (op_nested, 1),
    (op_condition, 1),
    (op_with_lock_condition, 1),
    (op_split, 1),
    (op_split_fails, 1),
    (op_split_abandoned, 1),
]
ROUND = sum(n for _, n in MIX)
kinds = {fn.__name__[3:]: 0 for fn, _ in MIX}
kinds["split_on_worker"] = 0

run_background = threading.Event()
stop = []


contended = [0]


def hold_once(target):
    with target:
        if target is value:
            value.transform(lambda x: x)  # identity: the loop's invariants hold
        time.sleep(0.0001)


def background():
    """Contention: every ~2 ms, holds the Value (or a lock) for 0.1 ms without
    the GIL, so that the loop's calls find it busy and take the waiting path."""
    i = 0
    while not stop:
        run_background.wait()
        if stop:
            return
        i += 1
        hold_once((value, lock, rlock, cond)[i % 4])  # (no reference left in this frame)
        contended[0] += 1
        time.sleep(0.002)


def loop(n):
    """Runs about n operations (whole rounds; one cross-thread split per 4 rounds)."""
    done = 0
    rounds = 0
    while done < n:
        for fn, count in MIX:
            fn()
            kinds[fn.__name__[3:]] += count
        done += ROUND
        rounds += 1
        if rounds % 4 == 0:
            op_split_on_worker()
            kinds["split_on_worker"] += 1
            done += 1
    assert value.get() is A  # every round ends where it started (swap twice)
    return done


def quiesce():
    """Background thread parked, nothing in flight: a stable point to measure."""
    run_background.clear()
    time.sleep(0.01)
    for _ in range(3):
        gc.collect()


def refcounts():
    return {"A": sys.getrefcount(A), "B": sys.getrefcount(B), "value": sys.getrefcount(value),
            "lock": sys.getrefcount(lock), "cond": sys.getrefcount(cond), "Payload": sys.getrefcount(Payload)}


def total_refcount():
    return sys.gettotalrefcount() if hasattr(sys, "gettotalrefcount") else None


def main():
    threads = [threading.Thread(target=worker, daemon=True), threading.Thread(target=background, daemon=True)]
    for t in threads:
        t.start()
    started = time.monotonic()

    # Phase 1: RSS, reference counts, GC-tracked objects.
    run_background.set()
    warmup = loop(max(N // 10, 20_000))
    quiesce()
    before = {"rss": rss_bytes(), "refcounts": refcounts(), "gc_objects": len(gc.get_objects()),
              "totalrefcount": total_refcount()}
    run_background.set()
    t0 = time.monotonic()
    done = loop(N)
    loop_seconds = time.monotonic() - t0
    quiesce()
    after = {"rss": rss_bytes(), "refcounts": refcounts(), "gc_objects": len(gc.get_objects()),
             "totalrefcount": total_refcount()}

    # Phase 2: Python allocations, traced.
    traced_n = max(N // 2, 20_000)
    tracemalloc.start()
    run_background.set()
    loop(20_000)
    quiesce()
    traced_before, _ = tracemalloc.get_traced_memory()
    run_background.set()
    traced_done = loop(traced_n)
    quiesce()
    traced_after, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    stop.append(1)
    run_background.set()
    jobs.put(None)
    for t in threads:
        t.join(10)
    result = {
        "operations": done,
        "warmup_operations": warmup,
        "traced_operations": traced_done,
        "loop_seconds": round(loop_seconds, 2),
        "total_seconds": round(time.monotonic() - started, 2),
        "kinds": kinds,
        "before": before,
        "after": after,
        "traced_before": traced_before,
        "traced_after": traced_after,
        "traced_peak": traced_peak,
        "live_exceptions": Boom.live,
        "background_holds": contended[0],
        "threads_stuck": sum(t.is_alive() for t in threads),
    }
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
