"""The native Lock and RLock behave like threading.Lock and threading.RLock."""

import math
import os
import re
import threading
import time
import weakref

import pytest
from conftest import DEADLINE, join, start

import dup_threading as dt

PAIRS = [(dt.Lock, threading.Lock), (dt.RLock, threading.RLock)]
BAD_ACQUIRE_ARGS = [
    ((False, 1), {}),
    ((), {"blocking": False, "timeout": 0.5}),
    ((), {"timeout": -2}),
    ((), {"timeout": -0.5}),
    ((), {"timeout": math.nan}),
    ((), {"timeout": "1"}),
    ((), {"timeout": 1e12}),
    ((), {"timeout": 2**70}),
    ((), {"bogus": 1}),
    ((True, 1, 2), {}),
    ((True,), {"blocking": True}),
]


@pytest.mark.parametrize("native,reference", PAIRS)
@pytest.mark.parametrize("args,kwargs", BAD_ACQUIRE_ARGS)
def test_acquire_argument_errors_match_threading(native, reference, args, kwargs):
    with pytest.raises(Exception) as expected:
        reference().acquire(*args, **kwargs)
    with pytest.raises(expected.type) as got:
        native().acquire(*args, **kwargs)
    if expected.type is ValueError:  # the messages users see and match on
        assert str(got.value) == str(expected.value)


@pytest.mark.parametrize("native", [dt.Lock, dt.RLock])
@pytest.mark.parametrize("args,kwargs", [((), {}), ((True,), {}), ((True, -1), {}), ((), {"timeout": 1}),
                                         ((False,), {}), ((), {"blocking": False, "timeout": -1}),
                                         ((1, 0), {}), ((), {"timeout": 0.5})])
def test_acquire_accepts_what_threading_accepts(native, args, kwargs):
    lock = native()
    assert lock.acquire(*args, **kwargs) is True
    lock.release()


@pytest.mark.parametrize("native", [dt.Lock, dt.RLock])
def test_nonblocking_and_timed_acquire_of_a_lock_held_elsewhere(native):
    lock = native()
    holding, done = threading.Event(), threading.Event()

    def holder():
        with lock:
            holding.set()
            done.wait(DEADLINE)

    h = start(holder)
    assert holding.wait(DEADLINE)
    assert lock.acquire(False) is False
    assert lock.acquire(timeout=0) is False
    t0 = time.monotonic()
    assert lock.acquire(timeout=0.1) is False
    assert 0.09 <= time.monotonic() - t0 < DEADLINE
    done.set()
    join(h)
    assert lock.acquire(timeout=DEADLINE) is True
    lock.release()


@pytest.mark.parametrize("native", [dt.Lock, dt.RLock])
def test_blocked_acquire_wakes_when_released(native):
    lock = native()
    lock.acquire()
    acquired_at = []

    def waiter():
        with lock:
            acquired_at.append(time.monotonic())

    t = start(waiter)
    time.sleep(0.1)
    assert not acquired_at
    released_at = time.monotonic()
    lock.release()
    join(t)
    assert acquired_at[0] - released_at < 1.0  # woken, not found by a timeout


@pytest.mark.parametrize("native", [dt.Lock, dt.RLock])
def test_context_manager_and_locked(native):
    lock = native()
    assert lock.locked() is False
    with lock as entered:
        assert entered is True
        assert lock.locked() is True
    assert lock.locked() is False


def test_lock_release_errors_and_any_thread_release():
    lock = dt.Lock()
    with pytest.raises(RuntimeError, match="^release unlocked lock$"):
        lock.release()
    lock.acquire()
    join(start(lock.release))  # like threading.Lock: any thread may release
    assert not lock.locked()


def test_lock_is_not_reentrant():
    lock = dt.Lock()
    lock.acquire()
    assert lock.acquire(False) is False
    assert lock.acquire(timeout=0.02) is False
    lock.release()


def test_rlock_reentrancy_and_ownership():
    lock = dt.RLock()
    with pytest.raises(RuntimeError, match="^cannot release un-acquired lock$"):
        lock.release()
    lock.acquire()
    lock.acquire()
    assert lock._recursion_count() == 2 and lock._is_owned()
    assert join(start(lock._is_owned)) is False
    assert join(start(lock._recursion_count)) == 0
    with pytest.raises(RuntimeError, match="^cannot release un-acquired lock$"):
        join(start(lock.release))
    lock.release()
    lock.release()
    assert not lock.locked() and not lock._is_owned()


def test_rlock_release_save_and_acquire_restore():
    lock = dt.RLock()
    with pytest.raises(RuntimeError, match="un-acquired"):
        lock._release_save()
    for _ in range(3):
        lock.acquire()
    state = lock._release_save()
    assert state == (3, threading.get_ident())
    assert not lock.locked()
    assert join(start(lambda: lock.acquire(False) and (lock.release() or True))) is True
    lock._acquire_restore(state)
    assert lock._recursion_count() == 3
    for _ in range(3):
        lock.release()
    assert not lock.locked()


def test_reprs_look_like_threading():
    lock = dt.Lock()
    assert re.fullmatch(r"<unlocked dup_threading\.Lock object at 0x[0-9a-f]+>", repr(lock))
    with lock:
        assert re.fullmatch(r"<locked dup_threading\.Lock object at 0x[0-9a-f]+>", repr(lock))
    rlock = dt.RLock()
    assert re.fullmatch(r"<unlocked dup_threading\.RLock object owner=0 count=0 at 0x[0-9a-f]+>", repr(rlock))
    with rlock, rlock:
        expected = rf"<locked dup_threading\.RLock object owner={threading.get_ident()} count=2 at 0x[0-9a-f]+>"
        assert re.fullmatch(expected, repr(rlock))
        assert re.fullmatch(expected, join(start(repr, rlock)))  # as seen from another thread


def test_weak_references():
    for make in (dt.Lock, dt.RLock):
        lock = make()
        r = weakref.ref(lock)
        assert r() is lock
        del lock
        assert r() is None


def test_dropping_a_held_lock_is_fine():
    lock = dt.Lock()
    lock.acquire()
    del lock
    rlock = dt.RLock()
    rlock.acquire()
    rlock.acquire()
    del rlock
    other = dt.RLock()
    holding = threading.Event()
    t = start(lambda: (other.acquire(), holding.set()))
    assert holding.wait(DEADLINE)
    join(t)
    del other  # held by a finished thread: leaked, not freed under it


def test_rlock_can_be_subclassed():
    class Traced(dt.RLock):
        pass

    lock = Traced()
    with lock:
        assert lock._is_owned()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.parametrize("native", [dt.Lock, dt.RLock])
def test_at_fork_reinit_in_child(native):
    lock = native()
    holding, done = threading.Event(), threading.Event()

    def holder():
        with lock:
            holding.set()
            done.wait(DEADLINE)

    h = start(holder)
    assert holding.wait(DEADLINE)
    pid = os.fork()
    if pid == 0:  # child: the holder thread does not exist here
        code = 1
        try:
            lock._at_fork_reinit()
            code = 0 if lock.acquire(timeout=1) else 2
        finally:
            os._exit(code)
    done.set()
    join(h)
    deadline = time.monotonic() + DEADLINE
    while True:
        wpid, status = os.waitpid(pid, os.WNOHANG)
        if wpid:
            break
        assert time.monotonic() < deadline, "child did not exit"
        time.sleep(0.01)
    assert os.waitstatus_to_exitcode(status) == 0
