"""The module used exactly as duplicity's asynchronous scheduler uses it:
with_lock(cv, fn) and interruptably_wait(cv, lambda: ...) on a
threading.Condition, async_split(lambda: fn(*params)) whose caller runs on a
_thread.start_new_thread thread, and whose waiter is called later from the
scheduling thread (also to propagate an earlier failure)."""

import _thread
import threading
import time

import pytest
from conftest import DEADLINE

from dup_threading import async_split, interruptably_wait, with_lock


class Uploads:
    """Just enough state machinery to drive the calls the way duplicity does."""

    def __init__(self, concurrency):
        self.cv = threading.Condition()
        self.concurrency = concurrency
        self.workers = 0
        self.failed_waiter = None

    def schedule(self, fn, params):
        waiter, caller = async_split(lambda: fn(*params))

        def register():
            if self.failed_waiter is not None:
                self.failed_waiter()  # raises the earlier failure
            interruptably_wait(self.cv, lambda: self.workers < self.concurrency or self.failed_waiter is not None)
            if self.failed_waiter is not None:
                self.failed_waiter()
            self.workers += 1

        with_lock(self.cv, register)

        def trampoline():
            try:
                succeeded, w = caller()
                if not succeeded:

                    def mark():
                        if self.failed_waiter is None:
                            self.failed_waiter = w
                        self.cv.notify_all()

                    with_lock(self.cv, mark)
            finally:

                def done():
                    self.workers -= 1
                    self.cv.notify_all()

                with_lock(self.cv, done)

        _thread.start_new_thread(trampoline, ())
        return waiter

    def wait(self):
        with_lock(self.cv, lambda: interruptably_wait(self.cv, lambda: self.workers == 0))


def upload(volume, seconds):
    time.sleep(seconds)
    return f"vol{volume}"


def test_waiters_called_later_from_the_scheduling_thread():
    u = Uploads(concurrency=2)
    waiters = [u.schedule(upload, (i, 0.01)) for i in range(8)]
    u.wait()
    assert [w() for w in waiters] == [f"vol{i}" for i in range(8)]
    assert u.workers == 0


def test_failure_reaches_later_schedule_calls_through_the_waiter():
    u = Uploads(concurrency=2)

    def broken(volume):
        raise IOError(f"volume {volume}: connection reset")

    failing = u.schedule(broken, (3,))
    deadline = time.monotonic() + DEADLINE
    with pytest.raises(IOError, match="volume 3") as info:
        while time.monotonic() < deadline:
            u.schedule(upload, (4, 0.001))
    with pytest.raises(IOError) as again:
        failing()
    assert again.value is info.value
    u.wait()


def test_scheduling_thread_blocks_while_slots_are_taken():
    u = Uploads(concurrency=1)
    gate = threading.Event()
    u.schedule(lambda: gate.wait(DEADLINE), ())
    second = {}

    def schedule_second():
        second["waiter"] = u.schedule(upload, (2, 0))

    t = threading.Thread(target=schedule_second, daemon=True)
    t.start()
    time.sleep(0.05)
    assert "waiter" not in second  # blocked in interruptably_wait, no polling needed
    gate.set()
    t.join(DEADLINE)
    assert not t.is_alive()
    assert second["waiter"]() == "vol2"
    u.wait()
