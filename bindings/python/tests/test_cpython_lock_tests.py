"""CPython's own conformance suite for its synchronization primitives
(``test.lock_tests``, taken from the interpreter running the tests, so each
version checks its own rules) run against the native types.

The test classes and the types they apply to follow the running version's own
``test_threading``: LockTests for Lock, RLockTests for RLock and for Condition
(which exports its lock's API, as ``ConditionAsRLockTests`` does), and
ConditionTests for Condition. The latter also runs over each kind of lock a
Condition accepts, and Event, Semaphore, BoundedSemaphore and Barrier (pure
Python in ``threading``) run over a native Condition. A test is skipped only
where ``test_threading`` skips it for CPython's own equivalent type, with the
same reason, or where it cannot apply (one case, documented below).

Every test runs under a deadline: the 3.10 suite waits in unbounded polling
loops, so a SIGALRM handler ends a test that overruns with TimeoutError.
"""

import signal
import threading
import time

import pytest

import dup_threading as dt

lock_tests = pytest.importorskip("test.lock_tests", reason="this Python has no test package")

#: A test that runs longer than this fails (the suite's own waits are bounded
#: by test.support.SHORT_TIMEOUT, 30 s, which a failing test may use twice).
TEST_DEADLINE = 150.0


class Deadline:
    """Mixin: fails a test that overruns TEST_DEADLINE instead of hanging.

    The alarm interrupts the main thread wherever it waits (time.sleep in the
    suite's polling loops, or a native wait, which runs signal handlers)."""

    def setUp(self):
        def expire(signum, frame):
            raise TimeoutError(f"{self.id()} still running after {TEST_DEADLINE} s")

        self._previous_alarm = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, TEST_DEADLINE)
        super().setUp()

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._previous_alarm)


def settle_threads(budget=3.0):
    """Waits (at most `budget` seconds in all) for the threads that earlier
    tests left still ending, so that a test that counts threads
    (test_thread_leak) counts only its own."""
    end = time.monotonic() + budget
    for thread in threading.enumerate():
        if thread is threading.current_thread():
            continue
        remaining = end - time.monotonic()
        if remaining <= 0:
            break
        thread.join(remaining)


class SettledThreadCount:
    """Mixin: test_thread_leak starts from a settled thread count."""

    def test_thread_leak(self):
        settle_threads()
        super().test_thread_leak()


#: test_threading's ConditionAsRLockTests skips this (3.11+, where RLockTests
#: has it): threading.Condition has no _recursion_count(), and neither has ours.
RECURSION_COUNT_SKIP = "Condition does not expose _recursion_count()"


def condition_over(make_lock):
    """A condtype whose default lock is make_lock() (the suite passes its own
    lock, threading.Lock(), to test an explicit one)."""

    def condtype(lock=None):
        return dt.Condition(make_lock() if lock is None else lock)

    return staticmethod(condtype)


def native_condition():
    """What threading's Event, Semaphore and Barrier build, Condition(Lock()),
    with the native types."""
    return dt.Condition(dt.Lock())


# threading's Event, Semaphore, BoundedSemaphore and Barrier keep their
# condition in `_cond` (3.10 to 3.13) and use nothing else of it than the
# condition API (with, wait, wait_for, notify, notify_all, _at_fork_reinit).
# Defined at module level under threading's names: the suite matches reprs
# such as "<module.Event at ...>".


class Event(threading.Event):
    def __init__(self):
        super().__init__()
        self._cond = native_condition()


class Semaphore(threading.Semaphore):
    def __init__(self, value=1):
        super().__init__(value)
        self._cond = native_condition()


class BoundedSemaphore(threading.BoundedSemaphore):
    def __init__(self, value=1):
        super().__init__(value)
        self._cond = native_condition()


class Barrier(threading.Barrier):
    def __init__(self, parties, action=None, timeout=None):
        super().__init__(parties, action, timeout)
        self._cond = native_condition()


# ---- Locks -----------------------------------------------------------------


class LockTests(Deadline, SettledThreadCount, lock_tests.LockTests):
    locktype = staticmethod(dt.Lock)


class RLockTests(Deadline, SettledThreadCount, lock_tests.RLockTests):
    locktype = staticmethod(dt.RLock)


class ConditionAsRLockTests(Deadline, lock_tests.RLockTests):
    # Condition uses an RLock by default and exports its API.
    locktype = staticmethod(dt.Condition)

    if hasattr(lock_tests.RLockTests, "test_recursion_count"):

        def test_recursion_count(self):
            self.skipTest(RECURSION_COUNT_SKIP)


# ---- Conditions --------------------------------------------------------------


class ConditionTests(Deadline, lock_tests.ConditionTests):
    condtype = staticmethod(dt.Condition)


class ConditionOverNativeRLockTests(Deadline, lock_tests.ConditionTests):
    condtype = condition_over(dt.RLock)


class ConditionOverThreadingRLockTests(Deadline, lock_tests.ConditionTests):
    condtype = condition_over(threading.RLock)


# The one test that cannot apply over a non-reentrant lock: test_acquire
# starts by acquiring the default condition twice ("By default we have an
# RLock"), which would block for ever on a Lock. Its second half, an explicit
# threading.Lock, is run by ConditionTests.
NOT_REENTRANT_SKIP = "test_acquire acquires the condition twice: it needs the default reentrant lock"


class ConditionOverNativeLockTests(Deadline, lock_tests.ConditionTests):
    condtype = condition_over(dt.Lock)

    def test_acquire(self):
        self.skipTest(NOT_REENTRANT_SKIP)


class ConditionOverThreadingLockTests(Deadline, lock_tests.ConditionTests):
    condtype = condition_over(threading.Lock)

    def test_acquire(self):
        self.skipTest(NOT_REENTRANT_SKIP)


# ---- threading's pure-Python primitives over a native Condition -------------


class EventTests(Deadline, lock_tests.EventTests):
    eventtype = staticmethod(Event)


class SemaphoreTests(Deadline, lock_tests.SemaphoreTests):
    semtype = staticmethod(Semaphore)


class BoundedSemaphoreTests(Deadline, lock_tests.BoundedSemaphoreTests):
    semtype = staticmethod(BoundedSemaphore)


class BarrierTests(Deadline, lock_tests.BarrierTests):
    barriertype = staticmethod(Barrier)


def test_the_primitives_really_use_a_native_condition():
    """The wrappers above replace what they must: each primitive waits on a
    native Condition over a native Lock."""
    for primitive in (Event(), Semaphore(), BoundedSemaphore(), Barrier(2)):
        assert type(primitive._cond) is dt.Condition
        assert type(primitive._cond._lock) is dt.Lock
