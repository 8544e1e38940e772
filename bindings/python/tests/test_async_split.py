"""async_split(fn) -> (waiter, caller)."""

import _thread
import gc
import threading
import time
import traceback
import weakref

import pytest
from conftest import DEADLINE, join, start

from dup_threading import AsyncCaller, AsyncWaiter, async_split


def test_caller_then_waiter_on_one_thread():
    waiter, caller = async_split(lambda: 6 * 7)
    assert isinstance(waiter, AsyncWaiter) and isinstance(caller, AsyncCaller)
    assert caller() == (True, waiter)
    assert waiter() == 42
    assert waiter() == 42  # any number of times


def test_caller_returns_the_original_waiter_object():
    waiter, caller = async_split(lambda: None)
    ok, same = caller()
    assert ok is True and same is waiter
    assert waiter() is None


def test_waiter_blocks_until_a_worker_thread_runs_the_caller():
    waiter, caller = async_split(lambda: "done")
    t = start(lambda: (time.sleep(0.1), caller()))
    t0 = time.monotonic()
    assert waiter() == "done"
    assert time.monotonic() - t0 >= 0.05
    join(t)


def test_caller_on_a_raw_thread_as_duplicity_does():
    results = []
    waiter, caller = async_split(lambda: threading.get_ident())
    _thread.start_new_thread(lambda: results.append(caller()), ())
    ident = waiter(timeout=DEADLINE)
    assert ident != threading.get_ident()
    deadline = time.monotonic() + DEADLINE
    while not results and time.monotonic() < deadline:
        time.sleep(0.001)
    assert results == [(True, waiter)]


def test_exception_is_reraised_every_time_with_fn_traceback():
    error = KeyError("volume 3")

    def upload():
        raise error

    waiter, caller = async_split(upload)
    assert caller() == (False, waiter)
    depths = []
    for _ in range(3):
        with pytest.raises(KeyError) as info:
            waiter()
        assert info.value is error
        frames = traceback.extract_tb(info.value.__traceback__)
        assert frames[-1].name == "upload"
        depths.append(len(frames))
    assert len(set(depths)) == 1, "traceback must not grow with each re-raise"


def test_many_waiting_threads_all_see_one_outcome():
    waiter, caller = async_split(lambda: object())
    threads = [start(waiter) for _ in range(8)]
    time.sleep(0.05)
    caller()
    outcomes = [join(t) for t in threads]
    assert all(o is outcomes[0] for o in outcomes)


def test_failure_seen_by_many_threads():
    waiter, caller = async_split(lambda: 1 / 0)
    threads = [start(waiter) for _ in range(4)]
    time.sleep(0.05)
    assert caller()[0] is False
    for t in threads:
        with pytest.raises(ZeroDivisionError):
            join(t)


def test_second_call_raises_and_does_not_run_fn_again():
    runs = []
    waiter, caller = async_split(lambda: runs.append(1) or len(runs))
    caller()
    with pytest.raises(RuntimeError, match="already called"):
        caller()
    assert runs == [1] and waiter() == 1


def test_caller_called_concurrently_runs_fn_once():
    runs = []
    gate = threading.Event()

    def fn():
        runs.append(1)
        gate.wait(DEADLINE)
        return "once"

    waiter, caller = async_split(fn)
    first = start(caller)
    deadline = time.monotonic() + DEADLINE
    while not runs and time.monotonic() < deadline:
        time.sleep(0.001)
    with pytest.raises(RuntimeError):
        caller()
    gate.set()
    assert join(first) == (True, waiter)
    assert runs == [1]


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit, GeneratorExit])
def test_base_exception_propagates_from_caller_and_reaches_waiters(exc_type):
    error = exc_type()

    def fn():
        raise error

    waiter, caller = async_split(fn)
    with pytest.raises(exc_type) as info:
        caller()
    assert info.value is error
    with pytest.raises(exc_type) as info:
        waiter()  # does not hang
    assert info.value is error


def test_waiter_timeout_and_done():
    waiter, caller = async_split(lambda: "late")
    assert waiter.done() is False
    with pytest.raises(TimeoutError):
        waiter(timeout=0)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        waiter(timeout=0.05)
    assert time.monotonic() - t0 >= 0.04
    with pytest.raises(ValueError):
        waiter(timeout=-1)
    caller()
    assert waiter.done() is True
    assert waiter(timeout=0) == "late"
    assert "done" in repr(waiter)


def test_discarded_caller_fails_waiters_instead_of_hanging():
    waiter, caller = async_split(lambda: 1)
    t = start(waiter)
    del caller
    with pytest.raises(RuntimeError, match="discarded"):
        join(t)


def test_fn_is_not_called_at_split_time_and_is_released_after_run():
    class Job:
        calls = 0

        def __call__(self):
            Job.calls += 1
            return "ok"

    job = Job()
    r = weakref.ref(job)
    waiter, caller = async_split(job)
    del job
    assert Job.calls == 0 and r() is not None
    caller()
    assert r() is None and waiter() == "ok"


def test_cycle_through_the_result_is_collected():
    class Box:
        pass

    box = Box()
    waiter, caller = async_split(lambda: box)
    box.waiter = waiter  # result -> waiter -> outcome -> result
    caller()
    r = weakref.ref(box)
    del box, waiter, caller
    gc.collect()
    assert r() is None


def test_cycle_through_the_exception_is_collected():
    class Failure(Exception):
        pass

    holder = {}

    def fn():
        raise Failure()

    waiter, caller = async_split(fn)
    caller()
    try:
        waiter()
    except Failure as e:
        e.waiter = waiter
        holder["ref"] = weakref.ref(e)
    del waiter, caller
    gc.collect()
    assert holder["ref"]() is None


def test_cannot_be_instantiated_directly():
    with pytest.raises(TypeError):
        AsyncWaiter()
    with pytest.raises(TypeError):
        AsyncCaller()
    with pytest.raises(TypeError):
        async_split()
    waiter, caller = async_split(lambda: 1)
    with pytest.raises(TypeError):
        caller(1)
