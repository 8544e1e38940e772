"""dup_threading.Condition: native with this module's locks, delegated to a
private threading.Condition with any other lock; threading.Condition's API."""

import decimal
import fractions
import math
import re
import threading
import time
import weakref

import pytest
from conftest import DEADLINE, join, start

import dup_threading as dt


class UserLock:
    """Anything with acquire()/release(), as duplicity's docs allow."""

    def __init__(self):
        self._lock = threading.Lock()

    def acquire(self, blocking=True, timeout=-1):
        return self._lock.acquire(blocking, timeout)

    def release(self):
        self._lock.release()


LOCKS = {
    "default": lambda: None,
    "native Lock": dt.Lock,
    "native RLock": dt.RLock,
    "threading.Lock": threading.Lock,
    "threading.RLock": threading.RLock,
    "user lock": UserLock,
}


@pytest.fixture(params=list(LOCKS))
def cond(request):
    lock = LOCKS[request.param]()
    return dt.Condition() if lock is None else dt.Condition(lock)


def test_default_lock_is_a_native_rlock():
    c = dt.Condition()
    assert type(c._lock) is dt.RLock
    with c, c:  # reentrant
        assert c._lock._recursion_count() == 2


def test_wait_returns_true_when_notified(cond):
    state = {"ready": False}

    def waiter():
        with cond:
            while not state["ready"]:
                assert cond.wait(DEADLINE) is True
            return "woken"

    t = start(waiter)
    time.sleep(0.05)
    with cond:
        state["ready"] = True
        cond.notify()
    assert join(t) == "woken"


def test_wait_timeout_returns_false(cond):
    with cond:
        t0 = time.monotonic()
        assert cond.wait(0.1) is False
        assert time.monotonic() - t0 >= 0.09
        assert cond.wait(0) is False
        assert cond.wait(-1) is False


WAIT_TIMEOUTS = [0, -1, -math.inf, math.nan, 0.01, math.inf, 1e10, threading.TIMEOUT_MAX + 1, 2**70, "1",
                 decimal.Decimal("0.01"), fractions.Fraction(1, 100), decimal.Decimal(-1), object()]


def outcome(call):
    try:
        return "returned", call()
    except Exception as error:  # noqa: BLE001 - compared, not handled
        return type(error), str(error)


@pytest.mark.parametrize("make_lock", [dt.Lock, dt.RLock])
@pytest.mark.parametrize("timeout", WAIT_TIMEOUTS, ids=repr)
def test_wait_timeouts_are_taken_as_by_threading(make_lock, timeout):
    """threading.Condition.wait: anything not > 0 polls; a positive timeout
    must pass the lock's acquire() rules (so inf is an OverflowError there)."""

    def wait(c):
        # A wait that blocks for ever where threading's does not (or raises)
        # is ended by a notify, and then returns True instead: a mismatch.
        done = threading.Event()
        rescuer = start(lambda: done.wait(2.0) or c.acquire() and (c.notify_all(), c.release()))
        try:
            with c:
                return c.wait(timeout)
        finally:
            done.set()
            join(rescuer)

    assert outcome(lambda: wait(dt.Condition(make_lock()))) == outcome(lambda: wait(threading.Condition()))


def test_wait_and_notify_require_the_lock(cond):
    with pytest.raises(RuntimeError, match="cannot wait on un-acquired lock"):
        cond.wait(0.01)
    with pytest.raises(RuntimeError, match="cannot notify on un-acquired lock"):
        cond.notify()
    with pytest.raises(RuntimeError, match="cannot notify on un-acquired lock"):
        cond.notify_all()


def test_notify_n_and_notify_all(cond):
    woken = []
    count_lock = threading.Lock()
    gate = {"open": 0}

    def waiter(i):
        with cond:
            while gate["open"] == 0:
                cond.wait(DEADLINE)
            gate["open"] -= 1
            with count_lock:
                woken.append(i)

    threads = [start(waiter, i) for i in range(4)]
    time.sleep(0.1)
    with cond:
        gate["open"] = 2
        cond.notify(2)
    deadline = time.monotonic() + DEADLINE
    while len(woken) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert len(woken) == 2
    with cond:
        gate["open"] = 2
        cond.notify_all()
    for t in threads:
        join(t)
    assert sorted(woken) == [0, 1, 2, 3]


def test_notifyAll_alias_and_notify_zero(cond):
    with cond:
        cond.notify(0)
        cond.notifyAll()


def test_wait_for_returns_the_predicate_result(cond):
    box = []
    t = start(lambda: (time.sleep(0.05), cond.acquire(), box.append("item"), cond.notify(), cond.release()))
    with cond:
        assert cond.wait_for(lambda: box and box[0], timeout=DEADLINE) == "item"
    join(t)
    with cond:
        assert cond.wait_for(lambda: 0, timeout=0.05) == 0
        assert cond.wait_for(lambda: "ready") == "ready"


def test_wait_for_predicate_error_propagates_with_lock_held(cond):
    calls = []

    def predicate():
        calls.append(1)
        if len(calls) > 1:
            raise KeyError("boom")
        return False

    with cond:
        t = start(lambda: (time.sleep(0.05), cond.acquire(), cond.notify(), cond.release()))
        with pytest.raises(KeyError):
            cond.wait_for(predicate, timeout=DEADLINE)
        cond.notify()  # would raise RuntimeError if the lock were not held
    join(t)


def test_wait_on_recursive_lock_restores_depth():
    c = dt.Condition(dt.RLock())
    with c, c, c:
        assert c.wait(0.01) is False
        assert c._lock._recursion_count() == 3
        assert c.wait_for(lambda: False, timeout=0.01) is False
        assert c._lock._recursion_count() == 3
        assert re.search(r"owner=\d+ count=3", repr(c._lock))


def test_waiting_releases_the_recursive_lock_fully():
    c = dt.Condition()
    got_it = []

    def other():
        with c:
            got_it.append(True)
            c.notify()

    with c, c:
        t = start(other)
        assert c.wait_for(lambda: got_it, timeout=DEADLINE)
    join(t)


def test_wakes_without_polling():
    """The predicate runs once per wake-up, not on a 100 ms timer."""
    c = dt.Condition()
    calls = []
    flag = []

    def predicate():
        calls.append(1)
        return bool(flag)

    def notifier():
        time.sleep(0.5)
        with c:
            flag.append(1)
            c.notify()

    t = start(notifier)
    with c:
        c.wait_for(predicate, timeout=DEADLINE)
    join(t)
    assert len(calls) <= 3, f"predicate called {len(calls)} times in 0.5 s: polling?"


def test_repr_weakref_and_arguments():
    c = dt.Condition(dt.Lock())
    assert re.fullmatch(r"<dup_threading\.Condition\(<unlocked dup_threading\.Lock object at 0x[0-9a-f]+>\)>", repr(c))
    r = weakref.ref(c)
    del c
    assert r() is None
    with pytest.raises(TypeError):
        dt.Condition(dt.Lock(), 1)
    c = dt.Condition(lock=None)
    with pytest.raises(TypeError):
        c.wait(1, 2)
    with pytest.raises(ValueError):
        with c:
            c.notify(-1)


def test_acquire_release_forward_to_the_lock(cond):
    assert cond.acquire() is True
    cond.release()
    assert cond.acquire(False) is True
    cond.release()
    assert cond.acquire(timeout=1) is True
    cond.release()


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_at_fork_reinit_in_child_with_a_waiter_in_the_parent():
    import os

    c = dt.Condition()
    flag = []

    def waiter():
        with c:
            c.wait_for(lambda: flag, timeout=DEADLINE)

    t = start(waiter)
    time.sleep(0.05)  # parked in the wait: the child inherits a "waiting" count
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            c._at_fork_reinit()
            with c:  # the lock is usable and notify finds no phantom waiter to trip on
                c.notify_all()
                code = 0 if c.wait(0.01) is False else 2
        finally:
            os._exit(code)
    with c:
        flag.append(1)
        c.notify()
    join(t)
    deadline = time.monotonic() + DEADLINE
    while True:
        wpid, status = os.waitpid(pid, os.WNOHANG)
        if wpid:
            break
        assert time.monotonic() < deadline, "child did not exit"
        time.sleep(0.01)
    assert os.waitstatus_to_exitcode(status) == 0
