"""async_split's own one-shot state: the outcome lives in the Python objects,
and a library condition is created only when a waiter has to block. These
tests exercise the paths where that matters: the condition created late (by
a waiter that times out, or after the caller started), many waiters woken by
one notify, abandonment while waiters block, signal handlers that run the
caller during a wait, and the argument fast paths."""

import gc
import random
import signal
import sys
import threading
import time
import weakref

import pytest
from conftest import DEADLINE, join, start

from dup_threading import async_split


def wait_until(predicate, timeout=DEADLINE):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def blocked_soon():
    """Gives threads that were just started time to park in their wait."""
    time.sleep(0.05)


# ---- the condition, created lazily --------------------------------------------------


def test_no_waiter_blocks_when_the_outcome_is_known():
    waiter, caller = async_split(lambda: "x")
    caller()
    assert waiter(timeout=0) == "x" and waiter() == "x" and waiter(timeout=5) == "x"


def test_a_timed_out_wait_then_a_blocking_wait_is_woken():
    # The first wait creates the condition and times out; a later wait on the
    # same condition must still be woken at once by the caller's notify.
    waiter, caller = async_split(lambda: "late")
    with pytest.raises(TimeoutError):
        waiter(timeout=0.01)
    t = start(lambda: (time.sleep(0.05), caller()))
    t0 = time.monotonic()
    assert waiter(timeout=DEADLINE) == "late"
    assert time.monotonic() - t0 < 0.9, "woken by the notify, not by the library's two-second safety interval"
    join(t)


def test_waiters_that_block_while_fn_runs_on_another_thread():
    started, gate = threading.Event(), threading.Event()
    result = object()

    def fn():
        started.set()
        gate.wait(DEADLINE)
        return result

    waiter, caller = async_split(fn)
    early = [start(waiter, DEADLINE) for _ in range(4)]  # before fn starts
    blocked_soon()
    runner = start(caller)
    assert started.wait(DEADLINE)
    late = [start(waiter, DEADLINE) for _ in range(4)]  # while fn runs
    blocked_soon()
    assert not waiter.done()
    with pytest.raises(TimeoutError):
        waiter(timeout=0)
    gate.set()
    assert join(runner) == (True, waiter)
    assert all(join(t) is result for t in early + late)


def test_one_notify_wakes_many_waiters_at_once():
    waiter, caller = async_split(lambda: "all")
    threads = [start(waiter, DEADLINE) for _ in range(32)]
    blocked_soon()
    t0 = time.monotonic()
    caller()
    assert [join(t) for t in threads] == ["all"] * 32
    assert time.monotonic() - t0 < 0.9


def test_failure_reaches_many_blocked_waiters_as_the_same_exception():
    error = ValueError("bad volume")

    def fn():
        raise error

    waiter, caller = async_split(fn)
    threads = [start(waiter, DEADLINE) for _ in range(8)]
    blocked_soon()
    assert caller() == (False, waiter)
    for t in threads:
        t.join(DEADLINE)
        assert t.error is error


def test_base_exception_reaches_blocked_waiters():
    error = SystemExit(3)

    def fn():
        raise error

    waiter, caller = async_split(fn)
    threads = [start(waiter, DEADLINE) for _ in range(4)]
    blocked_soon()
    runner = start(caller)
    runner.join(DEADLINE)
    assert runner.error is error
    for t in threads:
        t.join(DEADLINE)
        assert t.error is error


@pytest.mark.parametrize("trial", range(3))
def test_races_between_caller_and_waiters_lose_no_wakeup(trial):
    # Caller and waiters start in random order with no sleeps, so the caller
    # often publishes while a waiter is between "not done" and parking.
    rng = random.Random(trial)
    for i in range(300):
        waiter, caller = async_split(lambda i=i: i)
        threads = []
        order = ["caller"] + ["waiter"] * rng.randint(1, 3)
        rng.shuffle(order)
        for kind in order:
            threads.append(start(caller) if kind == "caller" else start(waiter, DEADLINE))
        for kind, t in zip(order, threads):
            outcome = join(t)
            assert outcome == ((True, waiter) if kind == "caller" else i)


# ---- abandonment ----------------------------------------------------------------------


def test_discarding_the_caller_wakes_every_blocked_waiter():
    waiter, caller = async_split(lambda: 1)
    threads = [start(waiter, DEADLINE) for _ in range(8)]
    blocked_soon()
    del caller
    for t in threads:
        t.join(DEADLINE)
        assert not t.is_alive()
        assert isinstance(t.error, RuntimeError) and "discarded" in str(t.error)
    with pytest.raises(RuntimeError, match="discarded"):
        waiter(timeout=0)
    assert waiter.done()


def test_a_caller_in_a_collected_cycle_abandons_its_waiters():
    holder = {}

    def fn(holder=holder):
        return holder  # fn -> holder -> caller -> fn

    waiter, caller = async_split(fn)
    holder["caller"] = caller
    t = start(waiter, DEADLINE)
    blocked_soon()
    del caller, holder, fn
    gc.collect()
    t.join(DEADLINE)
    assert isinstance(t.error, RuntimeError) and "discarded" in str(t.error)


# ---- signals ----------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs pthread_kill")
def test_a_signal_handler_may_run_the_caller_during_the_wait():
    assert threading.current_thread() is threading.main_thread()
    waiter, caller = async_split(lambda: "from the handler")
    ran = []

    def handler(signum, frame):
        ran.append(caller())

    old = signal.signal(signal.SIGUSR1, handler)
    try:
        main = threading.main_thread().ident
        kicker = start(lambda: (time.sleep(0.05), signal.pthread_kill(main, signal.SIGUSR1)))
        t0 = time.monotonic()
        assert waiter(timeout=DEADLINE) == "from the handler"
        assert time.monotonic() - t0 < 0.9
        join(kicker)
    finally:
        signal.signal(signal.SIGUSR1, old)
    assert ran == [(True, waiter)]


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs pthread_kill")
def test_a_signal_handler_that_does_not_raise_lets_the_wait_go_on():
    waiter, caller = async_split(lambda: "after")
    handled = []
    old = signal.signal(signal.SIGUSR1, lambda *a: handled.append(1))
    try:
        main = threading.main_thread().ident

        def kick_then_call():
            time.sleep(0.05)
            signal.pthread_kill(main, signal.SIGUSR1)
            time.sleep(0.05)
            caller()

        t = start(kick_then_call)
        assert waiter(timeout=DEADLINE) == "after"
        join(t)
    finally:
        signal.signal(signal.SIGUSR1, old)
    assert handled == [1]


# ---- arguments and references -----------------------------------------------------------


def test_argument_forms():
    waiter, caller = async_split(fn=lambda: 5)
    with pytest.raises(TypeError):
        caller(1)
    with pytest.raises(TypeError):
        caller(x=1)
    assert caller() == (True, waiter)
    assert waiter(None) == 5 and waiter(timeout=None) == 5 and waiter(float("inf")) == 5
    assert waiter(0) == 5 and waiter(timeout=0.5) == 5
    with pytest.raises(TypeError):
        waiter(1, 2)
    with pytest.raises(TypeError):
        waiter(bogus=1)
    with pytest.raises(TypeError):
        waiter(1, timeout=1)
    with pytest.raises(TypeError):
        waiter("soon")
    with pytest.raises(ValueError):
        waiter(float("nan"))
    with pytest.raises(ValueError):
        waiter(timeout=-0.5)
    with pytest.raises(TypeError):
        async_split(lambda: 1, lambda: 2)
    with pytest.raises(TypeError):
        async_split(func=lambda: 1)


def test_a_second_call_while_waiters_block_does_not_rerun_fn():
    runs = []
    gate = threading.Event()

    def fn():
        runs.append(1)
        gate.wait(DEADLINE)
        return len(runs)

    waiter, caller = async_split(fn)
    blocked = start(waiter, DEADLINE)
    first = start(caller)
    wait_until(lambda: runs)
    with pytest.raises(RuntimeError, match="already called"):
        caller()
    gate.set()
    assert join(first) == (True, waiter)
    assert join(blocked) == 1
    with pytest.raises(RuntimeError, match="already called"):
        caller()
    assert runs == [1]


def test_blocking_waits_leak_no_references():
    result = object()
    waiter, caller = async_split(lambda: result)
    for _ in range(3):
        with pytest.raises(TimeoutError):
            waiter(timeout=0.001)
    before_waiter, before_result = sys.getrefcount(waiter), sys.getrefcount(result)
    threads = [start(waiter, DEADLINE) for _ in range(4)]
    blocked_soon()
    caller()
    for t in threads:
        join(t)
        t.result = None
    del threads, t
    gc.collect()
    assert sys.getrefcount(waiter) == before_waiter
    assert sys.getrefcount(result) == before_result + 1  # the waiter's own, now that fn returned it


def test_outcome_is_released_with_the_waiter_even_after_blocking():
    class Result:
        pass

    waiter, caller = async_split(Result)
    t = start(waiter, DEADLINE)
    blocked_soon()
    caller()
    r = weakref.ref(join(t))
    t.result = None
    del waiter, caller, t
    gc.collect()
    assert r() is None
