"""interruptably_wait(cv, waitFor) on threading.Condition and on this module's
Condition: no polling, the condition held on every return path."""

import threading
import time

import pytest
from conftest import join, start

import dup_threading as dt
from dup_threading import interruptably_wait, interruptible_wait

CONDITIONS = {
    "threading.Condition": threading.Condition,
    "dt.Condition": dt.Condition,
    "dt.Condition(dt.Lock)": lambda: dt.Condition(dt.Lock()),
    "dt.Condition(threading.RLock)": lambda: dt.Condition(threading.RLock()),
}


@pytest.fixture(params=list(CONDITIONS))
def cv(request):
    return CONDITIONS[request.param]()


def test_returns_at_once_when_already_true(cv):
    with cv:
        assert interruptably_wait(cv, lambda: True) is None


def test_waits_until_the_predicate_holds(cv):
    state = {"done": False}

    def finisher():
        time.sleep(0.05)
        with cv:
            state["done"] = True
            cv.notify_all()

    t = start(finisher)
    with cv:
        interruptably_wait(cv, lambda: state["done"])
        assert state["done"]
        cv.notify()  # still held: would raise otherwise
    join(t)


def test_alias(cv):
    assert interruptible_wait is interruptably_wait
    with cv:
        interruptible_wait(cv, lambda: 1)


def test_predicate_error_propagates_with_condition_held(cv):
    calls = []

    def wait_for():
        calls.append(1)
        if len(calls) == 2:
            raise OSError("predicate failed")
        return False

    t = start(lambda: (time.sleep(0.05), cv.acquire(), cv.notify(), cv.release()))
    with cv:
        with pytest.raises(OSError):
            interruptably_wait(cv, wait_for)
        cv.notify()
    join(t)


def test_no_polling(cv):
    """duplicity's version re-checks every 100 ms; this one only on wake-ups."""
    calls = []
    flag = []

    def wait_for():
        calls.append(time.monotonic())
        return bool(flag)

    def setter():
        time.sleep(0.6)
        with cv:
            flag.append(True)
            cv.notify()

    t = start(setter)
    with cv:
        interruptably_wait(cv, wait_for)
    join(t)
    assert len(calls) <= 3, f"predicate evaluated {len(calls)} times in 0.6 s"


def test_notified_waiter_wakes_promptly(cv):
    flag = []
    woke = []

    def waiter():
        with cv:
            interruptably_wait(cv, lambda: flag)
            woke.append(time.monotonic())

    t = start(waiter)
    time.sleep(0.1)
    with cv:
        flag.append(1)
        notified = time.monotonic()
        cv.notify()
    join(t)
    assert woke[0] - notified < 0.09  # a 100 ms poll would not reliably beat this


def test_many_waiters_all_released(cv):
    state = {"go": False}
    count = dt.Value(0)

    def waiter():
        with cv:
            interruptably_wait(cv, lambda: state["go"])
        count.transform(lambda n: n + 1)

    threads = [start(waiter) for _ in range(6)]
    time.sleep(0.05)
    with cv:
        state["go"] = True
        cv.notify_all()
    for t in threads:
        join(t)
    assert count.get() == 6


def test_requires_the_condition_held_when_it_must_wait():
    with pytest.raises(RuntimeError):
        interruptably_wait(dt.Condition(), lambda: False)
    with pytest.raises(RuntimeError):
        interruptably_wait(threading.Condition(), lambda: False)


def test_bad_arguments():
    with pytest.raises(TypeError):
        interruptably_wait(threading.Condition())
    with pytest.raises(AttributeError):
        interruptably_wait(object(), lambda: False)
