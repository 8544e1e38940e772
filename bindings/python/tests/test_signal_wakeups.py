"""A signal handler that makes a wait's predicate true and notifies is never a
lost wake-up, in Condition.wait_for and interruptably_wait.

The signal is made pending with _thread.interrupt_main(signum), which marks it
as arrived without running its Python handler; the handler then runs at the
next point where the interpreter checks for signals. The calls are chained in
C (map, functools.partial, itertools), with no bytecode in between, so that the
first such point is inside the call under test:

* pending when the wait is called: the handler must run before the predicate
  is first evaluated (it used to run after it, and its notify came before the
  wait: a lost wake-up);
* made pending by the predicate's first evaluation: the handler must run
  inside the wait, where its notify wakes it (it used to run between the
  predicate and the wait: a lost wake-up again).

A wake-up that is lost anyway is ended by a rescuing notify_all after
RESCUE_AFTER seconds, so the test fails on the time taken instead of hanging.
"""

import _thread
import functools
import itertools
import operator
import signal
import threading
import time

import pytest
from conftest import DEADLINE, join, start

import dup_threading as dt

SIG = signal.SIGUSR1
#: A wait that a lost wake-up leaves parked is ended by a notify after this.
RESCUE_AFTER = 3.0
#: The wait must return well before that (the library's first check of a wait
#: with an interrupt hook comes 25 ms after it parks).
PROMPT = 1.5

NATIVE = {
    "Condition()": dt.Condition,
    "Condition(Lock())": lambda: dt.Condition(dt.Lock()),
}
DELEGATED = {
    "threading.Condition()": threading.Condition,
    "Condition(threading.RLock())": lambda: dt.Condition(threading.RLock()),
}

call = operator.methodcaller("__call__")


def in_c(*fns):
    """Calls fns one after the other from C, with no bytecode boundary (where
    a pending signal handler would run) in between; returns their results."""
    return list(map(call, fns))


def trip():
    """A C callable that makes SIG pending without running its handler."""
    return functools.partial(_thread.interrupt_main, SIG)


@pytest.fixture
def state():
    """The predicate's flag, set by SIG's handler, which then notifies."""
    box = {"flag": False, "cond": None, "handled": 0}

    def handler(signum, frame):
        box["handled"] += 1
        cond = box["cond"]
        if cond._is_owned():  # the handler interrupted the waiter before it waited
            box["flag"] = True
            cond.notify_all()
        else:
            with cond:
                box["flag"] = True
                cond.notify_all()

    previous = signal.signal(SIG, handler)
    yield box
    signal.signal(SIG, previous)


def flag_of(box):
    """A C predicate: box["flag"]."""
    return functools.partial(operator.getitem, box, "flag")


def flag_after_trip(box):
    """A C predicate that makes SIG pending when first called (returning
    None), then returns box["flag"]."""
    first = itertools.starmap(_thread.interrupt_main, [(SIG,)])
    then = map(operator.itemgetter("flag"), itertools.repeat(box))
    return functools.partial(next, itertools.chain(first, then))


def timed_with_rescue(cond, fn):
    """Runs fn() (a wait, with cond held) and returns (its result, seconds).
    If fn is still waiting after RESCUE_AFTER, another thread notifies."""
    finished = threading.Event()

    def rescue():
        if not finished.wait(RESCUE_AFTER):
            with cond:
                cond.notify_all()

    rescuer = start(rescue)
    t0 = time.monotonic()
    try:
        result = fn()
    finally:
        elapsed = time.monotonic() - t0
        finished.set()
        join(rescuer)
    return result, elapsed


def wait_for(cond, predicate):
    return functools.partial(cond.wait_for, predicate, DEADLINE)


def interruptably_wait(cond, predicate):
    return functools.partial(dt.interruptably_wait, cond, predicate)


@pytest.mark.parametrize("make", list(NATIVE.values()) + list(DELEGATED.values()),
                         ids=list(NATIVE) + list(DELEGATED))
@pytest.mark.parametrize("how", [wait_for, interruptably_wait])
def test_handler_pending_at_the_call_runs_before_the_predicate(state, make, how):
    cond = state["cond"] = make()
    with cond:
        results, elapsed = timed_with_rescue(cond, lambda: in_c(trip(), how(cond, flag_of(state))))
        assert cond._is_owned()
    assert state["handled"] == 1
    assert results[1] in (True, None)  # wait_for's predicate result; interruptably_wait's None
    assert elapsed < PROMPT, f"woken after {elapsed:.2f} s: the handler's notify was lost"


# threading.Condition's own wait runs a handler that became pending in the
# predicate at its entry, before it registers as a waiter: CPython's window,
# which no caller can close. Only the native waits are checked here.
@pytest.mark.parametrize("make", list(NATIVE.values()), ids=list(NATIVE))
@pytest.mark.parametrize("how", [wait_for, interruptably_wait])
def test_handler_made_pending_by_the_predicate_wakes_the_wait(state, make, how):
    cond = state["cond"] = make()
    with cond:
        results, elapsed = timed_with_rescue(cond, lambda: in_c(how(cond, flag_after_trip(state))))
        assert cond._is_owned()
    assert state["handled"] == 1
    assert results[0] in (True, None)
    assert elapsed < PROMPT, f"woken after {elapsed:.2f} s: the handler's notify was lost"


@pytest.mark.parametrize("make", list(NATIVE.values()), ids=list(NATIVE))
def test_a_handler_that_raises_before_the_predicate_stops_the_wait(make):
    """The early check also means a pending KeyboardInterrupt-style exception
    ends wait_for before the predicate runs at all."""
    cond = make()
    calls = []

    def handler(signum, frame):
        raise KeyboardInterrupt

    def predicate():
        calls.append(1)
        return False

    previous = signal.signal(SIG, handler)
    try:
        with cond:
            with pytest.raises(KeyboardInterrupt):
                in_c(trip(), functools.partial(cond.wait_for, predicate, DEADLINE))
            with pytest.raises(KeyboardInterrupt):
                in_c(trip(), functools.partial(dt.interruptably_wait, cond, predicate))
            assert cond._is_owned()
    finally:
        signal.signal(SIG, previous)
    assert calls == []
