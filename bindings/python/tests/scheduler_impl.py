"""A small job scheduler written for this project on dup_threading, in the
style of duplicity's asynchronous scheduler: one condition guards all state,
with_lock / interruptably_wait around it, async_split per job, a raw
_thread per job, and the caller's waiter handed back to the submitter.

* limit == 0 runs each job synchronously in submit() (no threads at all).
* limit >= 1 runs at most `limit` jobs at once, each on its own thread.
* barrier(): jobs submitted after it start only once every job submitted
  before it has finished.
* The first job that fails makes every later submit() (and wait()) raise its
  exception: once a job failed, more work is moot.
"""

import _thread
import threading

from dup_threading import async_split, interruptably_wait, with_lock


class Scheduler:
    def __init__(self, limit, condition=None):
        if limit < 0:
            raise ValueError("limit must be >= 0")
        self._limit = limit
        # One condition for everything; threading.Condition by default, as
        # duplicity uses. dup_threading.Condition works the same.
        self._cv = condition if condition is not None else threading.Condition()
        self._running = 0  # jobs started and not finished
        self._blocked = 0  # submitters waiting for a slot
        self._barrier = False  # a barrier waits for running jobs to drain
        self._failed = None  # waiter of the first job that failed

    # -- public ----------------------------------------------------------

    def submit(self, fn, *args):
        """Schedules fn(*args); returns a waiter: call it for fn's result (or
        exception). May block for a free slot; raises a previous failure."""
        if self._limit == 0:
            result = fn(*args)  # a failure propagates right here
            return lambda: result
        waiter, caller = async_split(lambda: fn(*args))
        with_lock(self._cv, self._take_slot)
        _thread.start_new_thread(self._run, (caller,))
        return waiter

    def barrier(self):
        """Jobs submitted after this start after every job submitted before it has finished."""
        if self._limit > 0:
            with_lock(self._cv, self._raise_barrier)

    def wait(self):
        """Blocks until no job runs and no submitter waits; raises a failure."""

        def idle():
            interruptably_wait(self._cv, lambda: self._running == 0 and self._blocked == 0)
            self._raise_if_failed()

        with_lock(self._cv, idle)

    # -- with self._cv held -------------------------------------------------

    def _raise_barrier(self):
        self._barrier = True

    def _raise_if_failed(self):
        if self._failed is not None:
            self._failed()  # re-raises the first failure, with its traceback
            raise AssertionError("the waiter of a failed job returned")

    def _slot_free(self):
        return self._failed is not None or (
            self._running == 0 if self._barrier else self._running < self._limit
        )

    def _take_slot(self):
        self._raise_if_failed()
        while self._barrier or self._running >= self._limit:
            if self._barrier and self._running == 0:
                self._barrier = False  # everything before the barrier is done
                self._cv.notify_all()
                continue
            self._blocked += 1
            try:
                interruptably_wait(self._cv, self._slot_free)
            finally:
                self._blocked -= 1
            self._raise_if_failed()
        self._running += 1

    # -- on the job's thread ------------------------------------------------

    def _run(self, caller):
        outcome = {"ok": True, "waiter": None}
        try:
            outcome["ok"], outcome["waiter"] = caller()
        except BaseException:  # noqa: BLE001 - caller() only lets non-Exceptions through
            outcome["ok"] = False
        finally:
            with_lock(self._cv, lambda: self._finish(outcome))

    def _finish(self, outcome):
        self._running -= 1
        if not outcome["ok"] and self._failed is None and outcome["waiter"] is not None:
            self._failed = outcome["waiter"]
        self._cv.notify_all()
