"""Reference cycles through dup_threading objects are collected.

Each test builds a cycle that goes through a Value, or through an async_split
waiter / caller and the outcome they share, keeps only weak references, drops
the strong ones and runs gc.collect(): every object of the cycle must be freed
(its weak reference dead). Without tp_traverse / tp_clear support, or with a
reference the extension forgets to report or drops twice, these leak or crash.
"""

import gc
import threading
import weakref

import pytest
from conftest import DEADLINE, join, start
from reliability_support import report

import dup_threading as dt

results = {}


class Node:
    """A weak-referenceable object with attributes."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


class Finalized(Node):
    """Its __del__ uses the Value of its cycle during the collection."""

    seen = []

    def __del__(self):
        Finalized.seen.append(self.v.get() is self)


class Callable(Node):
    """A weak-referenceable function object (AsyncCaller takes no weak
    references: its collection shows through its fn's)."""

    def __init__(self, result):
        self.result = result

    def __call__(self):
        return self.result


class BoomWithWaiter(Exception):
    pass


def collected(name, build, rounds=1):
    """Runs build() `rounds` times (each returns weak references to every
    object of a cycle it made, the strong ones dropped on return), collects,
    and asserts every referent is gone."""
    gc.collect()
    refs = []
    gc.disable()  # so that every cycle is still there for the check below
    try:
        for _ in range(rounds):
            refs += build()
        assert all(r() is not None for r in refs), "the cycle was freed without the collector: not a cycle"
    finally:
        gc.enable()
    gc.collect()
    alive = [r() for r in refs if r() is not None]
    results[name] = f"{rounds} cycle(s) of {len(refs) // rounds} objects: {len(refs) - len(alive)} of {len(refs)} freed"
    assert not alive, f"{len(alive)} object(s) of the cycle still alive: {alive[:3]!r}"


def test_value_cycle_through_its_content():
    def build():
        v = dt.Value()
        obj = Node(v=v)
        v.set(obj)  # v -> obj -> v
        return [weakref.ref(v), weakref.ref(obj)]

    collected("Value -> obj -> Value", build, rounds=100)


def test_value_holding_itself():
    def build():
        v = dt.Value()
        v.set(v)
        return [weakref.ref(v)]

    collected("Value -> itself", build, rounds=100)


def test_two_values_holding_each_other():
    def build():
        a, b = dt.Value(), dt.Value()
        a.set(b)
        b.set(a)
        return [weakref.ref(a), weakref.ref(b)]

    collected("Value a -> Value b -> a", build, rounds=100)


def test_value_subclass_cycle_through_its_dict_and_content():
    class V(dt.Value):
        pass

    def build():
        v = V()
        v.me = v
        v.set([v, Node(v=v)])
        return [weakref.ref(v), weakref.ref(v.get()[1])]

    collected("Value subclass -> its __dict__ and its content -> it", build, rounds=100)


def test_cycle_made_by_transform():
    def build():
        v = dt.Value(0)
        v.transform(lambda current: Node(v=v, previous=current))
        return [weakref.ref(v), weakref.ref(v.get())]

    collected("Value -> transform's result -> Value", build, rounds=100)


def test_cycle_with_a_finalizer_that_uses_the_value():
    Finalized.seen.clear()

    def build():
        v = dt.Value()
        obj = Finalized(v=v)
        v.set(obj)
        return [weakref.ref(v), weakref.ref(obj)]

    collected("Value -> obj with a __del__ that calls Value.get() -> Value", build, rounds=50)
    assert Finalized.seen == [True] * 50  # __del__ ran (PEP 442: before the Value was cleared)


def test_cycle_through_a_value_used_by_other_threads():
    """The Value was held and waited for by other threads before the cycle
    became unreachable (its busy bookkeeping back at rest)."""

    def build():
        v = dt.Value()
        obj = Node(v=v)
        v.set(obj)
        go = threading.Event()

        def hold():
            with v:
                go.set()
                v.set(v.get())

        t = start(hold)
        assert go.wait(DEADLINE)
        assert v.transform(lambda current: current) is obj  # waited for the holder
        join(t)
        return [weakref.ref(v), weakref.ref(obj)]

    collected("Value (contended before) -> obj -> Value", build, rounds=20)


def test_waiter_result_references_the_waiter():
    def build():
        box = Node()
        waiter, caller = dt.async_split(lambda: box)
        box.waiter = waiter  # result -> waiter -> outcome -> result
        assert caller() == (True, waiter)
        assert waiter() is box
        return [weakref.ref(waiter), weakref.ref(box)]

    collected("waiter -> result -> waiter", build, rounds=100)


def test_result_references_waiter_and_caller():
    def build():
        box = Node()
        waiter, caller = dt.async_split(lambda: box)
        box.pair = (waiter, caller)
        caller()
        return [weakref.ref(waiter), weakref.ref(box)]

    collected("waiter, caller -> result -> both", build, rounds=100)


def test_result_references_the_waiter_with_the_caller_run_on_another_thread():
    def build():
        box = Node()
        waiter, caller = dt.async_split(lambda: box)
        box.waiter = waiter
        t = start(caller)
        assert waiter(timeout=DEADLINE) is box
        join(t)
        t = None
        return [weakref.ref(waiter), weakref.ref(box)]

    collected("waiter -> result (run on another thread) -> waiter", build, rounds=50)


def test_exception_references_the_waiter():
    def build():
        box = Node()

        def fn():
            raise BoomWithWaiter(box)  # exception -> box -> waiter -> outcome -> exception

        waiter, caller = dt.async_split(fn)
        box.waiter = waiter
        assert caller() == (False, waiter)
        with pytest.raises(BoomWithWaiter):
            waiter()
        return [weakref.ref(waiter), weakref.ref(box)]

    collected("waiter -> exception -> waiter", build, rounds=100)


def test_traceback_frame_references_the_waiter():
    def build():
        holder = Node()

        def fn():
            w = holder.waiter  # a local of fn's frame, kept by the traceback  # noqa: F841
            raise BoomWithWaiter()

        waiter, caller = dt.async_split(fn)
        holder.waiter = waiter
        caller()
        return [weakref.ref(waiter), weakref.ref(holder)]

    collected("waiter -> exception -> traceback -> frame -> waiter", build, rounds=100)


def test_uncalled_caller_whose_fn_references_it():
    def build():
        box = Node()
        fn = Callable(box)
        waiter, caller = dt.async_split(fn)
        box.caller = caller  # caller -> fn -> box -> caller; never called
        box.waiter = waiter
        return [weakref.ref(waiter), weakref.ref(box), weakref.ref(fn)]

    collected("caller -> fn -> caller (never called)", build, rounds=100)


def test_value_holds_a_waiter_whose_result_holds_the_value():
    def build():
        v = dt.Value()
        waiter, caller = dt.async_split(lambda: v)
        caller()
        v.set(waiter)
        return [weakref.ref(v), weakref.ref(waiter)]

    collected("Value -> waiter -> result -> Value", build, rounds=100)


def test_condition_with_a_foreign_lock_referencing_it():
    class MyLock:
        def __init__(self):
            self.inner = threading.Lock()

        def acquire(self, *args):
            return self.inner.acquire(*args)

        def release(self):
            self.inner.release()

    def build():
        lock = MyLock()
        cond = dt.Condition(lock)
        lock.cond = cond
        with cond:
            cond.notify_all()
        return [weakref.ref(lock), weakref.ref(cond)]

    collected("Condition(foreign lock) -> lock -> Condition", build, rounds=100)


def test_report_cycles():
    """Runs last in this file: prints what was collected (pytest -s)."""
    if len(results) < 14:
        pytest.skip("run the whole file to get the report")
    report("Reference cycles collected by gc.collect()", results)
