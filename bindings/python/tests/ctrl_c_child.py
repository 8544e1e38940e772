"""Child process for test_ctrl_c.py: blocks the main thread in each kind of
wait of dup_threading, has a helper thread send SIGINT, and reports, as JSON on
stdout, the seconds from the signal to the KeyboardInterrupt and whether the
locks were consistent afterwards."""

import json
import os
import signal
import sys
import threading
import time

import dup_threading as dt

MAIN = threading.get_ident()
DELAY = 0.15  # let the main thread park before the signal


class Held:
    """Holds `lock` on another thread until close()."""

    def __init__(self, lock):
        self.lock = lock
        self.ready, self.done = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(5)

    def _run(self):
        self.lock.acquire()
        self.ready.set()
        self.done.wait(30)
        self.lock.release()

    def close(self):
        self.done.set()
        self.thread.join(5)
        assert not self.thread.is_alive()


results = {}


def measure(name, block, check=None, use_kill=False):
    sent = []

    def send():
        time.sleep(DELAY)
        sent.append(time.monotonic())
        if use_kill:
            os.kill(os.getpid(), signal.SIGINT)  # process-directed, like a terminal's Ctrl-C
        else:
            signal.pthread_kill(MAIN, signal.SIGINT)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        block()
        results[name] = "not interrupted"
    except KeyboardInterrupt:
        results[name] = time.monotonic() - sent[0]
    sender.join(5)
    try:
        if check is not None:
            check()
        results[name + " [after]"] = "ok"
    except BaseException as error:  # noqa: BLE001 - reported to the parent
        results[name + " [after]"] = repr(error)


def main():
    # async_split waiter
    waiter, caller = dt.async_split(lambda: "late")

    def finish():
        assert caller() == (True, waiter) and waiter() == "late"

    measure("waiter()", waiter)
    measure("waiter(timeout=60)", lambda: waiter(timeout=60))
    measure("waiter() via os.kill", waiter, finish, use_kill=True)

    # interruptably_wait, native and threading conditions: held again afterwards
    for label, cv in (("dt.Condition", dt.Condition()), ("threading.Condition", threading.Condition())):
        def wait(cv=cv):
            with cv:
                try:
                    dt.interruptably_wait(cv, lambda: False)
                finally:
                    cv.notify()  # raises RuntimeError if the lock were not held
        measure(f"interruptably_wait({label})", wait, lambda cv=cv: dt.with_lock(cv, lambda: None))

    # Lock / RLock held by another thread, and a Lock held by ourselves
    for label, lock in (("Lock", dt.Lock()), ("RLock", dt.RLock())):
        held = Held(lock)

        def check(lock=lock, held=held):
            assert lock.locked()
            held.close()
            assert lock.acquire(timeout=5)
            lock.release()

        measure(f"{label}.acquire()", lock.acquire, check)
    own = dt.Lock()
    own.acquire()
    measure("Lock.acquire() self-deadlock", own.acquire, lambda: (own.release(), own.acquire(False), own.release()))

    # Condition.wait / wait_for, with each native lock kind
    for label, cond in (("Condition(RLock)", dt.Condition()), ("Condition(Lock)", dt.Condition(dt.Lock()))):
        def wait(cond=cond):
            with cond:
                with cond if label == "Condition(RLock)" else _null():
                    try:
                        cond.wait()
                    finally:
                        cond.notify()  # still held
        def free(cond=cond):
            assert cond.acquire(False)  # every level was released by the with blocks
            cond.release()

        measure(f"{label}.wait()", wait, free)

        def wait_for(cond=cond):
            with cond:
                cond.wait_for(lambda: False)
        measure(f"{label}.wait_for()", wait_for, lambda cond=cond: dt.with_lock(cond, lambda: None))

    # Value operations on a Value another thread holds
    value = dt.Value(1)
    for label, op in (("get", value.get), ("set", lambda: value.set(2)),
                      ("transform", lambda: value.transform(lambda x: x + 1)),
                      ("acquire", value.acquire), ("with_lock", lambda: dt.with_lock(value, lambda: None))):
        held = Held(value)

        def check(held=held):
            held.close()
            assert value.get() == 1  # nothing was changed by the interrupted call
            assert value.acquire(blocking=False)
            value.release()

        measure(f"Value.{label}()", op, check)

    lock = dt.Lock()
    held = Held(lock)
    measure("with_lock(Lock)", lambda: dt.with_lock(lock, lambda: None), held.close)

    # A handler that does not raise: the wait goes on, and ends normally.
    handled = []
    signal.signal(signal.SIGUSR1, lambda *a: handled.append(1))
    waiter2, caller2 = dt.async_split(lambda: "finished")

    def late_call():
        time.sleep(0.1)
        signal.pthread_kill(MAIN, signal.SIGUSR1)
        time.sleep(0.1)
        caller2()

    t = threading.Thread(target=late_call, daemon=True)
    t.start()
    results["non-raising handler"] = [waiter2(timeout=10), len(handled)]
    t.join(5)

    json.dump(results, sys.stdout)


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


if __name__ == "__main__":
    main()
