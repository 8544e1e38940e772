"""dup_threading.Value: duplicity's API, plus a working transform, reentrancy,
blocking semantics and exact concurrent updates."""

import gc
import math
import sys
import threading
import time
import traceback
import weakref

import pytest
from conftest import DEADLINE, join, run_python, start

from dup_threading import Value, with_lock


def test_default_and_initial_value():
    assert Value().get() is None
    marker = object()
    assert Value(marker).get() is marker
    assert Value(value=3).get() == 3


def test_set_replaces_the_value():
    v = Value(1)
    assert v.set(2) is None
    assert v.get() == 2
    v.set(value="three")
    assert v.get() == "three"


def test_transform_stores_and_returns_the_new_value():
    v = Value(10)
    assert v.transform(lambda x: x + 1) == 11
    assert v.get() == 11
    assert v.transform(fn=lambda x: x * 2) == 22


def test_transform_error_leaves_value_unchanged_and_propagates_the_same_exception():
    v = Value(5)
    raised = ValueError("nope")

    def bad(x):
        raise raised

    with pytest.raises(ValueError) as info:
        v.transform(bad)
    assert info.value is raised
    # The traceback still reaches into fn.
    assert any(frame.name == "bad" for frame in traceback.extract_tb(info.value.__traceback__))
    assert v.get() == 5
    # And the Value is not left locked.
    assert join(start(v.get)) == 5


def test_transform_fn_may_use_the_same_value():
    v = Value(1)
    assert v.transform(lambda x: x + v.get()) == 2

    def sets_inside(x):
        v.set(100)  # overwritten by the result below
        return x + 1

    assert v.transform(sets_inside) == 3
    assert v.get() == 3


def test_release_inside_its_own_transform_is_refused_and_the_value_stays_consistent():
    """fn may not release the hold its own transform() runs under: the release
    raises RuntimeError and the Value, its lock and the extension's count of
    holds stay as they were. (Once that release went through, the Value was
    corrupted and a later get() blocked for ever holding the GIL: hence the
    child process, bounded by a timeout.)"""
    result = run_python(
        """
        import threading
        import dup_threading as dt

        v = dt.Value(1)

        def release_the_transforms_hold(x):
            v.release()
            return x + 1

        def refused(fn):
            try:
                v.transform(fn)
            except RuntimeError:
                return True
            return False

        assert refused(release_the_transforms_hold), "release inside the transform was allowed"
        assert v.get() == 1, "value changed"

        def caught(x):
            try:
                v.release()
            except RuntimeError:
                return x + 10
            raise AssertionError("release inside the transform was allowed")

        assert v.transform(caught) == 11 and v.get() == 11

        def balanced(x):  # a level fn takes itself is fn's to release
            v.acquire()
            v.release()
            return x + 1

        assert v.transform(balanced) == 12

        with v:  # the same with an outer hold: that one stays, and only it
            assert refused(release_the_transforms_hold)
            assert v.get() == 12

        v.set(5)
        assert v.get() == 5
        try:
            v.release()
        except RuntimeError:
            pass
        else:
            raise AssertionError("release of an unheld Value was allowed")

        # Nobody holds it: another thread takes it at once, then reads it.
        got = []
        t = threading.Thread(target=lambda: got.append((v.acquire(timeout=5), v.release(), v.get())))
        t.start()
        t.join(10)
        assert got == [(True, None, 5)], got
        print("ok")
        """,
        timeout=DEADLINE * 3,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "ok"


def test_transform_is_exclusive_across_threads():
    threads, per_thread = 8, 10_000
    v = Value(0)
    go = threading.Event()

    def work():
        go.wait(DEADLINE)
        for _ in range(per_thread):
            v.transform(lambda x: x + 1)

    workers = [start(work) for _ in range(threads)]
    go.set()
    for t in workers:
        join(t, timeout=60)
    assert v.get() == threads * per_thread


def test_acquire_release_and_with_block():
    v = Value([])
    assert v.acquire() is True
    v.get().append(1)
    v.release()
    with v:
        v.get().append(2)
    assert v.get() == [1, 2]


def test_reentrant():
    v = Value(7)
    assert with_lock(v, lambda: v.get()) == 7
    with v:
        with v:
            v.set(8)
        assert v.get() == 8


def test_release_without_acquire_raises():
    with pytest.raises(RuntimeError, match="cannot release un-acquired lock"):
        Value().release()


def test_release_by_another_thread_raises():
    v = Value()
    v.acquire()
    try:
        with pytest.raises(RuntimeError, match="un-acquired"):
            join(start(v.release))
    finally:
        v.release()


def test_holder_blocks_other_threads_until_release():
    v = Value(0)
    holding, release = threading.Event(), threading.Event()

    def holder():
        with v:
            holding.set()
            release.wait(DEADLINE)
            v.set(1)

    h = start(holder)
    assert holding.wait(DEADLINE)
    assert v.acquire(blocking=False) is False
    assert v.acquire(timeout=0.05) is False
    getter = start(v.get)
    time.sleep(0.1)
    assert getter.is_alive(), "get() must wait for the holder"
    release.set()
    assert join(getter) == 1  # saw the holder's final write
    join(h)


def test_get_while_another_thread_holds_and_runs_python_does_not_deadlock():
    v = Value(0)
    holding = threading.Event()

    def holder():
        with v:
            holding.set()
            total = 0
            for i in range(200_000):  # needs the GIL, which get() must give up
                total += i
            v.set(total)

    h = start(holder)
    assert holding.wait(DEADLINE)
    assert v.get() == sum(range(200_000))
    join(h)


def test_old_value_is_released_outside_the_lock():
    v = Value()
    seen = []

    class Old:
        def __del__(self):
            # Another thread can use the Value while this finalizer runs.
            seen.append(join(start(v.get), timeout=5))

    v.set(Old())
    v.set("new")
    assert seen == ["new"]


def test_referent_is_released_when_replaced_or_destroyed():
    class Thing:
        pass

    a, b = Thing(), Thing()
    ra, rb = weakref.ref(a), weakref.ref(b)
    v = Value(a)
    del a
    assert ra() is not None
    v.set(b)
    assert ra() is None
    del b
    assert rb() is not None
    del v
    assert rb() is None


def test_cycle_through_the_value_is_collected():
    class Node:
        pass

    n = Node()
    n.value = Value(n)
    r = weakref.ref(n)
    del n
    gc.collect()
    assert r() is None


def test_weakref_subclass_and_generic_alias():
    class Counter(Value):
        def increment(self):
            return self.transform(lambda x: x + 1)

    c = Counter(0)
    assert c.increment() == 1 and isinstance(c, Value)
    r = weakref.ref(c)
    del c
    assert r() is None
    assert Value[int] is not None


@pytest.mark.parametrize("args,kwargs", [((False, 1), {}), ((), {"timeout": -5}), ((), {"timeout": math.inf}),
                                         ((), {"bogus": 1})] + ([((None,), {})] if sys.version_info < (3, 12) else []))
def test_acquire_arguments_are_validated_like_threading(args, kwargs):
    """The same exception and message as this version's threading.RLock."""
    with pytest.raises(Exception) as expected:
        threading.RLock().acquire(*args, **kwargs)
    with pytest.raises(expected.type) as got:
        Value().acquire(*args, **kwargs)
    assert str(got.value) == str(expected.value)


def test_acquire_arguments_that_threading_accepts_per_version():
    v = Value()
    if sys.version_info >= (3, 12):  # blocking is any object's truth
        assert v.acquire(None) is True
        v.release()
    for args, kwargs in [((True, 0.5), {}), ((), {"timeout": -1}), ((False,), {})]:
        assert v.acquire(*args, **kwargs) is True
        v.release()


def test_transform_that_sets_a_finalized_value_stays_consistent_under_gc():
    v = Value(0)
    finalized = []

    class Noisy:
        def __del__(self):
            gc.collect()  # traverses v while the library releases this object
            finalized.append(v.get())

    def fn(x):
        v.set(Noisy())  # replaced by fn's result; its last reference goes in the library
        return x + 1

    for _ in range(3):
        v.transform(fn)
    assert v.get() == 3
    assert finalized == [1, 2, 3]
