"""The native locks work inside the standard library's threading.Condition,
through the private hooks it relies on."""

import threading
import time

import pytest
from conftest import DEADLINE, join, start

import dup_threading as dt


@pytest.mark.parametrize("make", [dt.RLock, dt.Lock])
def test_threading_condition_over_native_lock(make):
    cv = threading.Condition(make())
    items = []

    def consumer():
        with cv:
            assert cv.wait_for(lambda: items, timeout=DEADLINE)
            return items.pop()

    t = start(consumer)
    time.sleep(0.05)
    with cv:
        items.append("x")
        cv.notify()
    assert join(t) == "x"


def test_threading_condition_uses_rlock_hooks_and_restores_depth():
    lock = dt.RLock()
    cv = threading.Condition(lock)
    assert cv._is_owned.__self__ is lock  # threading picked up our hooks
    with cv, cv:
        assert cv.wait(0.01) is False
        assert lock._recursion_count() == 2
    with pytest.raises(RuntimeError, match="cannot wait on un-acquired lock"):
        cv.wait(0.01)
    assert not lock.locked()


def test_threading_condition_notify_all_over_native_rlock():
    cv = threading.Condition(dt.RLock())
    go = []
    woke = dt.Value(0)

    def waiter():
        with cv:
            cv.wait_for(lambda: go, timeout=DEADLINE)
        woke.transform(lambda n: n + 1)

    threads = [start(waiter) for _ in range(5)]
    time.sleep(0.05)
    with cv:
        go.append(1)
        cv.notify_all()
    for t in threads:
        join(t)
    assert woke.get() == 5


def test_interruptably_wait_on_threading_condition_over_native_lock():
    cv = threading.Condition(dt.RLock())
    flag = []
    t = start(lambda: (time.sleep(0.05), dt.with_lock(cv, lambda: (flag.append(1), cv.notify()))))
    with cv:
        dt.interruptably_wait(cv, lambda: flag)
    join(t)


def test_native_condition_over_threading_locks():
    for lock in (threading.Lock(), threading.RLock()):
        cv = dt.Condition(lock)
        flag = []
        t = start(lambda: (time.sleep(0.02), dt.with_lock(cv, lambda: (flag.append(1), cv.notify()))))
        with cv:
            assert cv.wait_for(lambda: flag, timeout=DEADLINE)
        join(t)
