"""with_lock(lock, fn) with every kind of lock duplicity code may hand it."""

import threading
import traceback

import pytest
from conftest import join, start

import dup_threading as dt
from dup_threading import with_lock


class Recorder:
    """A user's lock: anything with acquire() and release()."""

    def __init__(self):
        self.events = []

    def acquire(self):
        self.events.append("acquire")

    def release(self):
        self.events.append("release")


def is_held(lock):
    """Whether another thread would find `lock` held."""

    def probe():
        if lock.acquire(False):
            lock.release()
            return False
        return True

    return join(start(probe))


LOCKS = {
    "threading.Lock": threading.Lock,
    "threading.RLock": threading.RLock,
    "threading.Condition": threading.Condition,
    "dt.Lock": dt.Lock,
    "dt.RLock": dt.RLock,
    "dt.Condition": dt.Condition,
    "dt.Condition(threading.Lock)": lambda: dt.Condition(threading.Lock()),
    "dt.Value": dt.Value,
}


@pytest.mark.parametrize("make", list(LOCKS.values()), ids=list(LOCKS))
def test_holds_the_lock_during_fn_and_releases_after(make):
    lock = make()
    assert with_lock(lock, lambda: is_held(lock)) is True
    assert is_held(lock) is False


@pytest.mark.parametrize("make", list(LOCKS.values()), ids=list(LOCKS))
def test_releases_on_exception_and_propagates_it_unchanged(make):
    lock = make()
    error = LookupError("in fn")

    def fn():
        raise error

    with pytest.raises(LookupError) as info:
        with_lock(lock, fn)
    assert info.value is error
    assert any(f.name == "fn" for f in traceback.extract_tb(info.value.__traceback__))
    assert is_held(lock) is False


def test_returns_fn_result_and_calls_user_lock_in_order():
    lock = Recorder()
    assert with_lock(lock, lambda: lock.events.append("fn") or 42) == 42
    assert lock.events == ["acquire", "fn", "release"]
    with pytest.raises(ZeroDivisionError):
        with_lock(lock, lambda: 1 / 0)
    assert lock.events[-1] == "release"


def test_fn_not_called_when_acquire_fails():
    class Broken:
        def acquire(self):
            raise OSError("cannot acquire")

        def release(self):
            raise AssertionError("must not release")

    called = []
    with pytest.raises(OSError):
        with_lock(Broken(), lambda: called.append(1))
    assert called == []


def test_release_error_after_success_is_raised():
    lock = dt.Lock()
    with pytest.raises(RuntimeError, match="release unlocked lock"):
        with_lock(lock, lock.release)  # fn released it behind with_lock's back


def test_release_error_after_fn_error_chains_like_finally():
    lock = dt.RLock()

    def fn():
        lock.release()
        raise KeyError("fn")

    with pytest.raises(RuntimeError) as info:
        with_lock(lock, fn)
    assert isinstance(info.value.__context__, KeyError)


def test_reentrant_value_inside_with_lock():
    v = dt.Value(3)
    assert with_lock(v, lambda: v.get() + with_lock(v, v.get)) == 6


def test_arguments():
    assert with_lock(lock=threading.Lock(), fn=lambda: 1) == 1
    with pytest.raises(TypeError):
        with_lock(threading.Lock())
    with pytest.raises(TypeError):
        with_lock(threading.Lock(), lambda: 1, 2)
    with pytest.raises(AttributeError):
        with_lock(object(), lambda: 1)


def test_mutual_exclusion_under_contention():
    for make in (dt.Lock, dt.RLock, dt.Value, threading.Lock):
        lock = make()
        box = {"n": 0}

        def bump():
            n = box["n"]
            box["n"] = n + 1

        def work():
            for _ in range(5_000):
                with_lock(lock, bump)

        threads = [start(work) for _ in range(4)]
        for t in threads:
            join(t, timeout=60)
        assert box["n"] == 20_000, make
