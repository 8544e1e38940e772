"""Tests of scheduler_impl.Scheduler, with threading.Condition (as duplicity
uses) and with dup_threading.Condition."""

import threading
import time

import pytest
from conftest import DEADLINE, join, start
from scheduler_impl import Scheduler

import dup_threading as dt

CONDITIONS = {"threading.Condition": threading.Condition, "dt.Condition": dt.Condition}


@pytest.fixture(params=list(CONDITIONS))
def make(request):
    return lambda limit: Scheduler(limit, CONDITIONS[request.param]())


class Tracker:
    """Records job start/finish under a dup_threading.Value."""

    def __init__(self):
        self.state = dt.Value({"running": 0, "peak": 0, "log": []})

    def job(self, name, seconds=0.02, fail=False):
        def begin():
            s = self.state.get()
            s["running"] += 1
            s["peak"] = max(s["peak"], s["running"])
            s["log"].append(("start", name))

        def end():
            s = self.state.get()
            s["running"] -= 1
            s["log"].append(("end", name))

        dt.with_lock(self.state, begin)
        try:
            time.sleep(seconds)
            if fail:
                raise IOError(f"job {name} failed")
            return name
        finally:
            dt.with_lock(self.state, end)

    @property
    def log(self):
        return self.state.get()["log"]


def test_synchronous_mode_runs_in_submit_and_raises_at_once(make):
    s = make(0)
    tracker = Tracker()
    waiter = s.submit(tracker.job, "a", 0)
    assert tracker.log == [("start", "a"), ("end", "a")]
    assert waiter() == "a"
    with pytest.raises(IOError):
        s.submit(tracker.job, "b", 0, True)


def test_results_come_back_through_waiters(make):
    s = make(3)
    waiters = [s.submit(lambda x: x * x, i) for i in range(10)]
    assert [w(timeout=DEADLINE) for w in waiters] == [i * i for i in range(10)]
    s.wait()


def test_concurrency_is_bounded_and_reached(make):
    s = make(3)
    tracker = Tracker()
    waiters = [s.submit(tracker.job, i, 0.03) for i in range(12)]
    for w in waiters:
        w(timeout=DEADLINE)
    s.wait()
    assert tracker.state.get()["peak"] == 3


def test_limit_one_runs_in_order(make):
    s = make(1)
    tracker = Tracker()
    for i in range(5):
        s.submit(tracker.job, i, 0.005)
    s.wait()
    assert [name for kind, name in tracker.log if kind == "start"] == list(range(5))
    assert tracker.state.get()["peak"] == 1


def test_barrier_orders_jobs(make):
    s = make(4)
    tracker = Tracker()
    for i in range(4):
        s.submit(tracker.job, f"before{i}", 0.02 * (i + 1))
    s.barrier()
    for i in range(4):
        s.submit(tracker.job, f"after{i}", 0.01)
    s.wait()
    log = tracker.log
    last_before_end = max(i for i, (kind, name) in enumerate(log) if kind == "end" and name.startswith("before"))
    first_after_start = min(i for i, (kind, name) in enumerate(log) if kind == "start" and name.startswith("after"))
    assert last_before_end < first_after_start


def test_first_failure_propagates_to_later_submits(make):
    s = make(2)
    tracker = Tracker()
    bad = s.submit(tracker.job, "bad", 0.01, True)
    with pytest.raises(IOError) as first:
        bad(timeout=DEADLINE)
    # Every later scheduling call raises that very failure.
    deadline = time.monotonic() + DEADLINE
    while True:
        try:
            s.submit(tracker.job, "later", 0)
        except IOError as error:
            assert error is first.value
            break
        assert time.monotonic() < deadline, "failure never propagated"
    with pytest.raises(IOError):
        s.wait()


def test_blocked_submitter_sees_a_failure(make):
    s = make(1)
    tracker = Tracker()
    s.submit(tracker.job, "slow-bad", 0.1, True)
    t0 = time.monotonic()
    with pytest.raises(IOError, match="slow-bad"):
        s.submit(tracker.job, "never", 0)  # waits for the slot, then sees the failure
    assert time.monotonic() - t0 < DEADLINE
    assert ("start", "never") not in tracker.log


def test_wait_from_another_thread(make):
    s = make(2)
    for i in range(4):
        s.submit(time.sleep, 0.02)
    join(start(s.wait))


def test_rejects_negative_limit():
    with pytest.raises(ValueError):
        Scheduler(-1)
