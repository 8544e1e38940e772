"""The native Lock and RLock behave like threading.Lock and threading.RLock."""

import decimal
import fractions
import math
import os
import re
import sys
import threading
import time
import warnings
import weakref

import pytest
from conftest import DEADLINE, join, run_python, start

import dup_threading as dt

PAIRS = [(dt.Lock, threading.Lock), (dt.RLock, threading.RLock)]


class Index:
    def __index__(self):
        return 0


class BadIndex:
    def __index__(self):
        raise KeyError("no index")


class FloatSubclass(float):
    pass


#: acquire() arguments whose handling differs between CPython versions or is
#: easy to get subtly wrong: argument parsing (blocking is an int up to 3.11,
#: any object's truth from 3.12; the unknown-keyword message changed in 3.13),
#: the conversion of the timeout to nanoseconds (its overflow messages changed
#: in 3.11 and 3.13) and the checks on the result (the negative-timeout
#: message changed in 3.13; the TIMEOUT_MAX bound is inclusive up to 3.10).
ACQUIRE_ARGS = [
    ((), {}),
    ((True,), {}),
    ((False,), {}),
    ((True, -1), {}),
    ((1, 0), {}),
    ((), {"timeout": 1}),
    ((), {"timeout": 0.5}),
    ((), {"timeout": 0}),
    ((), {"timeout": -1.0}),
    ((), {"timeout": True}),
    ((), {"blocking": False, "timeout": -1}),
    ((False, 1), {}),
    ((False, 0), {}),
    ((False, -1.5), {}),
    ((), {"blocking": False, "timeout": 0.5}),
    ((), {"timeout": -2}),
    ((), {"timeout": -0.5}),
    ((), {"timeout": -1e-10}),
    ((), {"timeout": -0.9999999999}),  # rounds to exactly -1 s: the default
    ((), {"timeout": -1.0000000001}),
    ((), {"timeout": 1e-10}),
    ((), {"timeout": -0.0}),
    ((), {"timeout": math.nan}),
    ((), {"timeout": math.inf}),
    ((), {"timeout": -math.inf}),
    ((), {"timeout": threading.TIMEOUT_MAX}),
    ((), {"timeout": threading.TIMEOUT_MAX + 1}),
    ((), {"timeout": 9223372036.854774}),  # just under the bound, in float steps
    ((), {"timeout": 9223372036.854776}),
    ((), {"timeout": 1e12}),
    ((), {"timeout": 9223372036}),
    ((), {"timeout": 9223372037}),
    ((), {"timeout": 2**63}),
    ((), {"timeout": -(2**63)}),
    ((), {"timeout": 2**70}),
    ((), {"timeout": "1"}),
    ((), {"timeout": None}),
    ((), {"timeout": decimal.Decimal("0.5")}),
    ((), {"timeout": fractions.Fraction(1, 2)}),
    ((), {"timeout": Index()}),
    ((), {"timeout": BadIndex()}),
    ((), {"timeout": FloatSubclass(0.5)}),
    ((), {"timeout": 1 + 0j}),
    ((None,), {}),
    (([],), {}),
    (("x",), {}),
    ((1.5,), {}),
    ((2**40,), {}),
    ((-(2**40),), {}),
    ((2**70,), {}),
    ((Index(),), {}),
    ((BadIndex(),), {}),
    ((decimal.Decimal(1),), {}),
    ((), {"blocking": "x", "timeout": None}),
    ((), {"bogus": 1}),
    ((), {"timeout": 1, "bogus": 2}),
    ((), {"blocking": 1, "timeout": 1, "x": 2, "y": 3}),
    ((True, 1, 2), {}),
    ((1, 2), {"timeout": 1}),
    ((True,), {"blocking": True}),
]


def outcome(call):
    """What a call did: its result, or its exception's type and message."""
    try:
        return "returned", call()
    except Exception as error:  # noqa: BLE001 - compared, not handled
        return type(error), str(error)


@pytest.mark.parametrize("native,reference", PAIRS)
@pytest.mark.parametrize("args,kwargs", ACQUIRE_ARGS)
def test_acquire_arguments_are_handled_as_by_threading(native, reference, args, kwargs):
    """Same result, or same exception type and message, as this version's
    threading lock (messages differ between versions: each must match its own)."""
    assert outcome(lambda: native().acquire(*args, **kwargs)) == outcome(
        lambda: reference().acquire(*args, **kwargs)
    )


@pytest.mark.parametrize("native", [dt.Lock, dt.RLock])
def test_acquire_argument_messages_of_this_version(native):
    """The messages that changed, spelled out per version (the comparison
    above would pass for a lock that is wrong in the same way as threading)."""
    lock = native()
    negative = "timeout value must be a non-negative number" if sys.version_info >= (3, 13) else \
        "timeout value must be positive"
    with pytest.raises(ValueError, match=f"^{negative}$"):
        lock.acquire(timeout=-2)
    keyword = r"acquire\(\) got an unexpected keyword argument 'bogus'" if sys.version_info >= (3, 13) else \
        r"'bogus' is an invalid keyword argument for acquire\(\)"
    with pytest.raises(TypeError, match=f"^{keyword}$"):
        lock.acquire(bogus=1)
    float_overflow = "timestamp out of range for platform time_t" if sys.version_info >= (3, 11) else \
        "timestamp too large to convert to C _PyTime_t"
    with pytest.raises(OverflowError, match=f"^{float_overflow}$"):
        lock.acquire(timeout=math.inf)
    int_overflow = "timestamp too large to convert to C PyTime_t" if sys.version_info >= (3, 13) else \
        "timestamp too large to convert to C _PyTime_t"
    with pytest.raises(OverflowError, match=f"^{int_overflow}$"):
        lock.acquire(timeout=2**70)
    # The last float below 2**63 ns: 2**63 - 1024 ns, which rounds up to the
    # bound in microseconds, refused by 3.10 (">=") and not after (">").
    if sys.version_info >= (3, 11):
        assert lock.acquire(timeout=9223372036.854775) is True
        lock.release()
    else:
        with pytest.raises(OverflowError, match="^timeout value is too large$"):
            lock.acquire(timeout=9223372036.854775)
    if sys.version_info >= (3, 12):
        assert lock.acquire(None) is True  # blocking is any object's truth
        lock.release()
    else:
        with pytest.raises(TypeError, match="^'NoneType' object cannot be interpreted as an integer$"):
            lock.acquire(None)


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


BAD_RESTORE_STATES = [None, 5, "ab", (1,), (1, 2, 3), ("a", 1), (1, "x"), (1.5, 2), [1], {}]


@pytest.mark.parametrize("state", BAD_RESTORE_STATES, ids=repr)
def test_rlock_acquire_restore_rejects_a_bad_state_as_threading_does(state):
    """The same TypeError, word for word (not a SystemError), and the lock is
    left alone."""
    lock = dt.RLock()
    expected = outcome(lambda: threading.RLock()._acquire_restore(state))
    assert expected[0] is TypeError
    assert outcome(lambda: lock._acquire_restore(state)) == expected
    assert not lock.locked()


def test_rlock_acquire_restore_argument_count_and_counts_it_refuses():
    lock = dt.RLock()
    for args in [(), ((1, 2), (1, 2))]:
        assert outcome(lambda: lock._acquire_restore(*args)) == outcome(
            lambda: threading.RLock()._acquire_restore(*args)
        )
    # _thread would store these counts and leave its lock inconsistent.
    for count in (0, -1, 2**64):
        with pytest.raises(ValueError, match="count"):
            lock._acquire_restore((count, threading.get_ident()))
        assert not lock.locked()
    # Restoring over a hold of this thread's own would double its depth
    # (_thread's would deadlock): refused, the hold untouched.
    with lock:
        with pytest.raises(RuntimeError, match="already held"):
            lock._acquire_restore((2, threading.get_ident()))
        assert lock._recursion_count() == 1
    assert not lock.locked()


def test_rlock_acquire_restore_depths_and_owner():
    lock = dt.RLock()
    for count in (1, 2, 7):
        lock._acquire_restore((count, 12345))  # the owner is ignored: the library knows it
        assert lock._recursion_count() == count and lock._is_owned()
        assert lock._release_save() == (count, threading.get_ident())
        assert not lock.locked()


def test_rlock_acquire_restore_huge_count_and_contention_release_the_gil():
    """A huge saved count is restored in one step (it used to be restored by
    one try-acquire per level, holding the GIL), and a restore that must wait
    for another thread waits without the GIL. In a child process: either
    defect blocks every thread of the interpreter."""
    result = run_python(
        """
        import threading, time
        import dup_threading as dt

        lock = dt.RLock()
        me = threading.get_ident()
        lock._acquire_restore((10**15, me))
        assert lock._recursion_count() == 10**15
        assert lock._release_save() == (10**15, me)

        for count in (1, 3):
            restored = threading.Event()
            lock.acquire()                       # held here: the restore below must wait
            def restore():
                lock._acquire_restore((count, 0))
                restored.set()
                assert lock._recursion_count() == count
                lock._release_save()
            t = threading.Thread(target=restore, daemon=True)
            t.start()
            deadline = time.monotonic() + 0.2
            spins = 0
            while time.monotonic() < deadline:   # Python runs while the other thread waits
                spins += 1
            assert not restored.is_set()
            lock.release()
            assert restored.wait(10)
            t.join(10)
            assert not t.is_alive() and not lock.locked()
        print("ok")
        """,
        timeout=DEADLINE * 3,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


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


def test_rlock_arguments_warn_as_threading_rlock_does():
    """threading.RLock() warns about arguments from 3.13 on (not a subclass's)."""

    class Custom(dt.RLock):
        def __init__(self, a, *, b):
            super().__init__()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dt.RLock()
        Custom(1, b=2)
        threading.RLock(1)
        reference = [str(w.message) for w in caught]
        del caught[:]
        dt.RLock(1)
        dt.RLock(a=1)
    assert all(w.category is DeprecationWarning for w in caught)
    assert [str(w.message) for w in caught] == reference * 2
    if sys.version_info >= (3, 13):
        assert reference == ["Passing arguments to RLock is deprecated and will be removed in 3.15"]
    else:
        assert reference == []


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
