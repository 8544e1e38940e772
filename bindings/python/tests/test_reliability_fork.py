"""os.fork() in a process where other threads hold dup_threading's locks.

In each scenario other threads hold (or wait for) a native Lock, RLock,
Condition lock or Value at the moment this thread forks. In the child (only
the forking thread survives):

* new primitives of every kind can be created and used, also across a new
  thread (nothing inside the library is left locked by a vanished thread);
* `_at_fork_reinit()` resets an inherited Lock / RLock / Condition that a
  vanished thread held, after which acquire / release / wait / notify work;
* what cannot be reset fails in a bounded way, never hangs: a Value held by a
  vanished thread (Value has no _at_fork_reinit) refuses acquire(timeout=...)
  and its blocking get() still ends when a signal handler raises.

The child reports through its exit status (os._exit: 0 ok, 10 + n the step
that failed, 3 an unexpected exception, printed to stderr); the parent waits
for it with waitpid(WNOHANG) polling until a deadline, then kills it. The
parent then releases what its threads held and checks that its own copies of
the primitives still work.
"""

import os
import random
import signal
import sys
import threading
import time
import traceback

import pytest
from conftest import DEADLINE, join, start
from reliability_support import full_only, report, seed_for, wait_child

import dup_threading as dt

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
    # Python 3.12+ warns about fork() in a process with threads: that is the point here.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

CHILD_TIMEOUT = 20.0
results = {}


class Step:
    """Numbered checks in the child: a failed one exits with 10 + its number."""

    def __init__(self):
        self.n = 0
        self.names = []

    def __call__(self, condition, name):
        self.n += 1
        self.names.append(name)
        if not condition:
            sys.stderr.write(f"child check {self.n} failed: {name}\n")
            sys.stderr.flush()
            os._exit(10 + self.n)


def fork_and_check(child, timeout=CHILD_TIMEOUT):
    """Forks; runs child(step) in the child, which exits 0 if it returns.
    Returns the child's exit code (asserting it exited in time)."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 3
        try:
            child(Step())
            code = 0
        except BaseException:  # noqa: BLE001 - reported through the exit status
            traceback.print_exc()
        finally:
            try:
                sys.stderr.flush()
            finally:
                os._exit(code)
    code, killed = wait_child(pid, timeout)
    assert not killed, f"child {pid} still running after {timeout} s: killed (a hang in the child)"
    return code


def use_new_primitives(step):
    """Every kind of primitive, new in the child, also across a new thread."""
    lock, rlock, value = dt.Lock(), dt.RLock(), dt.Value(0)
    step(lock.acquire(timeout=1) and not lock.acquire(timeout=0.01), "new Lock")
    lock.release()
    with rlock, rlock:
        step(rlock._recursion_count() == 2, "new RLock is reentrant")
    step(value.transform(lambda x: x + 1) == 1, "new Value")
    cond, flag = dt.Condition(dt.Lock()), []

    def other():
        with value:  # contended with the child's main thread below
            value.set(value.get() + 1)
        with cond:
            flag.append(1)
            cond.notify_all()
        return "done"

    waiter, caller = dt.async_split(other)
    t = threading.Thread(target=caller, daemon=True)
    with cond:
        t.start()
        dt.interruptably_wait(cond, lambda: flag)
    step(waiter(timeout=5) == "done", "async_split across a new thread")
    t.join(5)
    step(not t.is_alive(), "the new thread finished")
    step(value.get() == 2, "Value updated by the new thread")
    step(dt.with_lock(lock, lambda: 5) == 5, "with_lock")


class Holder:
    """A thread that takes `acquire`, signals, and holds until released."""

    def __init__(self, acquire, release, inside=None):
        self.ready, self.go = threading.Event(), threading.Event()

        def run():
            acquire()
            self.ready.set()
            if inside is not None:
                inside()
            self.go.wait(DEADLINE * 3)
            release()

        self.thread = start(run)
        assert self.ready.wait(DEADLINE)

    def finish(self):
        self.go.set()
        join(self.thread)


def test_lock_held_by_another_thread():
    lock = dt.Lock()
    holder = Holder(lock.acquire, lock.release)

    def child(step):
        step(lock.locked(), "inherited Lock is locked")
        step(lock.acquire(timeout=0.05) is False, "held by a vanished thread: acquire times out")
        lock._at_fork_reinit()
        step(not lock.locked(), "_at_fork_reinit unlocks it")
        step(lock.acquire(timeout=1), "acquire after reinit")
        lock.release()
        t = threading.Thread(target=lambda: (lock.acquire(), lock.release()), daemon=True)
        t.start()
        t.join(5)
        step(not t.is_alive() and not lock.locked(), "a new thread acquires and releases it")
        use_new_primitives(step)

    code = fork_and_check(child)
    holder.finish()
    assert code == 0
    assert lock.acquire(timeout=DEADLINE)  # the parent's copy is intact
    lock.release()
    results["Lock held by another thread"] = "ok"


def test_rlock_held_twice_by_another_thread():
    rlock = dt.RLock()
    holder = Holder(lambda: (rlock.acquire(), rlock.acquire()), lambda: (rlock.release(), rlock.release()))

    def child(step):
        step(rlock.locked() and not rlock._is_owned(), "inherited RLock locked, not ours")
        step(rlock.acquire(timeout=0.05) is False, "held by a vanished thread: acquire times out")
        rlock._at_fork_reinit()
        step(not rlock.locked(), "_at_fork_reinit unlocks it")
        with rlock, rlock:
            step(rlock._recursion_count() == 2, "reentrant after reinit")
        step(not rlock.locked(), "released")
        use_new_primitives(step)

    code = fork_and_check(child)
    holder.finish()
    assert code == 0
    with rlock:
        pass
    results["RLock held (depth 2) by another thread"] = "ok"


def condition_scenario(cond, waiting):
    flag = []
    if waiting:
        # The other thread is parked in wait(): the child inherits a waiter count.
        ready = threading.Event()

        def wait():
            with cond:
                ready.set()
                cond.wait_for(lambda: flag, timeout=DEADLINE * 3)

        t = start(wait)
        assert ready.wait(DEADLINE)
        time.sleep(0.02)
        holder = None
    else:
        holder = Holder(cond.acquire, cond.release)

    def child(step):
        cond._at_fork_reinit()
        with cond:
            cond.notify_all()  # no phantom waiter to trip on
            step(cond.wait(0.01) is False, "wait(timeout) times out after reinit")
        child_flag = []

        def waiter():
            with cond:
                return cond.wait_for(lambda: child_flag, timeout=5)

        t2 = threading.Thread(target=waiter, daemon=True)
        t2.start()
        time.sleep(0.01)
        with cond:
            child_flag.append(1)
            cond.notify_all()
        t2.join(5)
        step(not t2.is_alive(), "a new thread waits and is notified")
        use_new_primitives(step)

    code = fork_and_check(child)
    if waiting:
        with cond:
            flag.append(1)
            cond.notify_all()
        join(t)
    else:
        holder.finish()
    assert code == 0
    with cond:
        cond.notify_all()


@pytest.mark.parametrize("waiting", [False, True], ids=["held", "waiter parked in wait()"])
@pytest.mark.parametrize("kind", ["RLock", "Lock"])
def test_condition_lock_held_by_another_thread(kind, waiting):
    cond = dt.Condition(dt.RLock() if kind == "RLock" else dt.Lock())
    condition_scenario(cond, waiting)
    results[f"Condition({kind}) with another thread {'waiting in wait()' if waiting else 'holding its lock'}"] = "ok"


def test_value_held_by_another_thread():
    value = dt.Value("parent")
    holder = Holder(value.acquire, value.release)

    def child(step):
        # No _at_fork_reinit on a Value: held by a vanished thread, it stays held.
        step(value.acquire(timeout=0.05) is False, "acquire(timeout) on the inherited Value times out")

        class Alarm(Exception):
            pass

        def on_alarm(*_):
            raise Alarm()

        signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        try:
            value.get()
            step(False, "get() on a Value held by a vanished thread returned")
        except Alarm:
            pass
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        step(True, "its blocking get() ends when a signal handler raises")
        use_new_primitives(step)

    code = fork_and_check(child)
    holder.finish()
    assert code == 0
    assert value.get() == "parent"
    results["Value held by another thread"] = "ok (stays held in the child: no _at_fork_reinit; bounded)"


def test_lock_rlock_condition_and_value_all_held_by_a_second_thread():
    lock, rlock, value = dt.Lock(), dt.RLock(), dt.Value(0)
    cond = dt.Condition(dt.Lock())
    everything = (lock, rlock, cond, value)

    def take_all():
        for x in everything:
            x.acquire()

    def release_all():
        for x in reversed(everything):
            x.release()

    holder = Holder(take_all, release_all)

    def child(step):
        for x in (lock, rlock, cond):
            step(x.acquire(timeout=0.02) is False, f"inherited {type(x).__name__} held by a vanished thread")
            x._at_fork_reinit()
            step(x.acquire(timeout=1) is True, f"{type(x).__name__} acquire after _at_fork_reinit")
            x.release()
        with cond:
            cond.notify_all()
            step(cond.wait(0.01) is False, "Condition wait after reinit")
        step(value.acquire(timeout=0.02) is False, "the inherited Value stays held")
        use_new_primitives(step)

    code = fork_and_check(child)
    holder.finish()
    assert code == 0
    assert dt.with_lock(value, value.get) == 0
    results["Lock, RLock, Condition(Lock) and Value all held by one other thread"] = "ok"


def test_locks_held_by_the_forking_thread():
    lock, rlock, value = dt.Lock(), dt.RLock(), dt.Value(1)
    lock.acquire()
    rlock.acquire()
    value.acquire()
    try:

        def child(step):
            step(lock.locked(), "Lock held")
            lock.release()  # any thread may release a Lock
            step(not lock.locked(), "released in the child")
            step(rlock._is_owned() and rlock._recursion_count() == 1, "the child's thread owns the RLock")
            rlock.release()
            step(not rlock.locked(), "RLock released in the child")
            step(value.get() == 1, "Value held by this very thread: get() nested")
            value.set(2)
            value.release()
            t = threading.Thread(target=lambda: value.set(3), daemon=True)
            t.start()
            t.join(5)
            step(not t.is_alive() and value.get() == 3, "Value released and usable by a new thread")
            use_new_primitives(step)

        code = fork_and_check(child)
    finally:
        value.release()
        rlock.release()
        lock.release()
    assert code == 0
    assert value.get() == 1
    results["Lock, RLock and Value held by the forking thread"] = "ok"


def test_async_split_pending_at_fork():
    # A thread blocked in waiter(), the caller not yet run; and an fn running on a thread.
    waiter, caller = dt.async_split(lambda: "result")
    blocked = start(lambda: waiter(timeout=DEADLINE * 3))
    running = threading.Event()
    release = threading.Event()

    def slow():
        running.set()
        release.wait(DEADLINE * 3)
        return "slow"

    waiter2, caller2 = dt.async_split(slow)
    t2 = start(caller2)
    assert running.wait(DEADLINE)
    time.sleep(0.02)

    def child(step):
        step(caller() == (True, waiter), "the child runs the pending caller")
        step(waiter(timeout=1) == "result", "and its waiter returns")
        try:
            waiter2(timeout=0.05)
            step(False, "waiter of an fn running on a vanished thread returned")
        except TimeoutError:
            pass
        step(True, "a waiter for an fn that was running on a vanished thread times out")
        use_new_primitives(step)

    code = fork_and_check(child)
    assert caller() == (True, waiter)
    assert join(blocked) == "result"
    release.set()
    join(t2)
    assert waiter2() == "slow"
    assert code == 0
    results["async_split pending at fork (waiter blocked / fn running)"] = "ok"


def fork_under_load(forks, seed):
    """Forks `forks` times at random moments while four threads hammer the
    library (contended Value, Lock, RLock, Condition ping-pong, async_split
    handed between threads). Each child resets every inherited native lock
    and uses them and new primitives."""
    rng = random.Random(seed)
    lock, rlock, value = dt.Lock(), dt.RLock(), dt.Value(0)
    cond = dt.Condition()
    stop = []

    def hammer_value():
        while not stop:
            value.transform(lambda x: x + 1)
            with value:
                value.set(value.get())

    def hammer_locks():
        while not stop:
            with lock:
                pass
            with rlock, rlock:
                pass

    def ping():
        while not stop:
            with cond:
                cond.notify_all()
                cond.wait(0.001)

    def splits():
        while not stop:
            w, c = dt.async_split(lambda: 1)
            t = threading.Thread(target=c)
            t.start()
            w(timeout=DEADLINE)
            t.join(DEADLINE)

    threads = [start(fn) for fn in (hammer_value, hammer_locks, ping, splits)]
    codes = []
    try:
        for _ in range(forks):
            time.sleep(rng.uniform(0, 0.01))

            def child(step):
                for inherited in (lock, rlock, cond):
                    inherited._at_fork_reinit()
                with lock:
                    pass
                with rlock, rlock:
                    pass
                with cond:
                    step(cond.wait(0.001) is False, "inherited Condition after reinit")
                use_new_primitives(step)

            codes.append(fork_and_check(child))
    finally:
        stop.append(1)
        for t in threads:
            join(t)
    bad = [c for c in codes if c != 0]
    assert not bad, f"{len(bad)} of {forks} children failed, exit codes {bad}"
    assert value.transform(lambda x: x) > 0
    return len(codes)


def test_fork_while_threads_hammer_the_library():
    n = fork_under_load(20, seed_for("fork under load"))
    results["fork while 4 threads hammer the library"] = f"{n} forks, {n} children exited 0"


@full_only
def test_fork_while_threads_hammer_the_library_full():
    n = fork_under_load(600, seed_for("fork under load (full)"))
    results["fork while 4 threads hammer the library (full)"] = f"{n} forks, {n} children exited 0"


@full_only
def test_fork_during_async_split_hand_offs_child_finishes_the_splits():
    """Four threads hand splits to workers (waiter blocked, caller run on a
    new thread) while this thread forks at random moments. The child runs each
    pending split's caller itself and waits on its waiter with a timeout: that
    must end in time, whatever the other threads were doing at the fork."""
    rng = random.Random(seed_for("fork during async_split hand-offs"))
    forks = 1000
    stop = []
    shared = {}  # thread index -> (waiter, caller, claimed): the split it is handing off now

    def hand_off(index):
        while not stop:
            waiter, caller = dt.async_split(lambda: 1)
            claimed = []
            shared[index] = (waiter, caller, claimed)

            def run(caller=caller, claimed=claimed):
                time.sleep(0.0001)
                claimed.append(1)  # before caller(): the child leaves this one alone
                caller()

            t = threading.Thread(target=run)
            t.start()
            waiter(timeout=DEADLINE)
            t.join(DEADLINE)

    def child(step):
        for waiter, caller, claimed in list(shared.values()):
            if not claimed and not waiter.done():
                caller()
            try:
                waiter(timeout=0.2)
            except TimeoutError:
                pass

    threads = [start(hand_off, i) for i in range(4)]
    hung = failed = 0
    try:
        for _ in range(forks):
            time.sleep(rng.uniform(0, 0.003))
            try:
                code = fork_and_check(child, timeout=3.0)
                failed += code != 0
            except AssertionError:
                hung += 1
    finally:
        stop.append(1)
        for t in threads:
            join(t)
    results["fork during async_split hand-offs (full)"] = f"{forks} forks, {hung} children hung, {failed} failed"
    print(f"\n   fork during async_split hand-offs: {forks} forks, {hung} children hung (killed), {failed} failed")
    assert hung == 0 and failed == 0


def test_report_fork():
    """Runs last in this file: prints the scenarios (pytest -s)."""
    if len(results) < 11:
        pytest.skip("run the whole file to get the report")
    report("fork() with locks held by other threads", {**results, "scenarios": len(results)})
