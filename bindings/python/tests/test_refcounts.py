"""No reference or memory leaks: reference counts stable over 100,000
operations; Python and native memory flat over many objects."""

import gc
import sys
import threading
import tracemalloc

import pytest

import dup_threading as dt

N = 100_000


class Payload:
    pass


class Boom(Exception):
    """Counts its live instances. Tests raise a fresh one each time: raising
    one instance again chains each new traceback onto its old one, which
    keeps every frame alive (Python's semantics, not a leak of ours)."""

    live = 0

    def __init__(self, *args):
        super().__init__(*args)
        Boom.live += 1

    def __del__(self):
        Boom.live -= 1


def assert_no_live_exceptions():
    gc.collect()
    assert Boom.live == 0


def assert_refcount_stable(obj, operation, n=N):
    operation()  # warm up (caches, first-time allocations)
    gc.collect()
    before = sys.getrefcount(obj)
    for _ in range(n):
        operation()
    gc.collect()
    assert sys.getrefcount(obj) == before


def test_value_get_set_transform():
    obj, other = Payload(), Payload()
    v = dt.Value(obj)
    assert_refcount_stable(obj, v.get)
    assert_refcount_stable(obj, lambda: (v.set(other), v.set(obj)))
    assert_refcount_stable(obj, lambda: v.transform(lambda x: x))
    assert_refcount_stable(other, lambda: v.transform(lambda x: other if x is obj else obj))
    assert_refcount_stable(obj, lambda: dt.with_lock(v, v.get))


def test_value_releases_its_referent():
    obj = Payload()
    before = sys.getrefcount(obj)
    values = [dt.Value(obj) for _ in range(1000)]
    assert sys.getrefcount(obj) == before + 1000
    for v in values[:500]:
        v.set(None)
    assert sys.getrefcount(obj) == before + 500
    del values
    assert sys.getrefcount(obj) == before


def test_transform_error_path():
    obj = Payload()
    v = dt.Value(obj)

    def fail(_):
        raise Boom()

    def op():
        try:
            v.transform(fail)
        except Boom:
            pass

    assert_refcount_stable(obj, op)
    assert_no_live_exceptions()
    assert v.get() is obj


def test_with_lock_result_and_error_paths():
    obj = Payload()
    for lock in (dt.Lock(), dt.RLock(), dt.Condition(), dt.Value(), threading.Lock()):
        assert_refcount_stable(obj, lambda: dt.with_lock(lock, lambda: obj))

        def raising():
            raise Boom(obj)

        def op():
            try:
                dt.with_lock(lock, raising)
            except Boom:
                pass

        assert_refcount_stable(obj, op)
        assert_refcount_stable(lock, lambda: dt.with_lock(lock, lambda: None))
    assert_no_live_exceptions()


def test_async_split_success_and_failure():
    obj = Payload()

    def success():
        waiter, caller = dt.async_split(lambda: obj)
        caller()
        waiter()

    def raising():
        raise Boom(obj)

    def failure():
        waiter, caller = dt.async_split(raising)
        caller()
        for _ in range(2):
            try:
                waiter()
            except Boom:
                pass

    assert_refcount_stable(obj, success)
    assert_refcount_stable(obj, failure)
    assert_refcount_stable(obj, lambda: dt.async_split(lambda: obj))  # never called
    assert_no_live_exceptions()


def test_locks_and_conditions():
    lock, rlock, cond = dt.Lock(), dt.RLock(), dt.Condition()
    assert_refcount_stable(lock, lambda: (lock.acquire(), lock.release()))
    assert_refcount_stable(rlock, lambda: (rlock.acquire(), rlock.release()))

    def notify():
        with cond:
            cond.notify()
            cond.wait(0)

    assert_refcount_stable(cond, notify, n=N // 10)
    assert_refcount_stable(cond._lock, notify, n=N // 10)


def test_python_memory_is_flat():
    obj = Payload()

    def churn():
        v = dt.Value(obj)
        v.transform(lambda x: x)
        waiter, caller = dt.async_split(v.get)
        caller()
        waiter()
        with dt.Condition(dt.Lock()) as _:
            pass

    for _ in range(1000):
        churn()
    gc.collect()
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        for _ in range(N // 2):
            churn()
        gc.collect()
        end, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert end - start < 64 * 1024, f"Python memory grew by {end - start} bytes"


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_native_memory_is_flat():
    """Handles freed by dealloc: 200,000 of each kind must not grow RSS (a leaked
    Swift object is at least 64 bytes: 200,000 of them would be 12 MB)."""

    def churn():
        dt.Lock()
        dt.RLock()
        dt.Condition()
        dt.Value(1)
        w, c = dt.async_split(int)
        c()
        w()

    for _ in range(50_000):
        churn()
    gc.collect()
    before = rss_bytes()
    for _ in range(200_000):
        churn()
    gc.collect()
    grown = rss_bytes() - before
    assert grown < 4 * 1024 * 1024, f"RSS grew by {grown} bytes"
