"""Blocking waits release the GIL: other Python threads keep running while
one thread is parked in any wait of this module. A wait that kept the GIL
would freeze the whole interpreter, so this runs in a child process with a
timeout, and the child reports how much work the main thread got done."""

import json

import pytest
from conftest import run_python

CHILD = r"""
import json, threading, time
import dup_threading as dt

def held(lock):
    ready, done = threading.Event(), threading.Event()
    def run():
        with lock:
            ready.set()
            done.wait(30)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    ready.wait(30)
    return done.set

def setups():
    w, c = dt.async_split(lambda: 1)
    yield "waiter", w, c
    lock = dt.Lock(); lock.acquire()
    yield "Lock.acquire", lambda: (lock.acquire(), lock.release()), lock.release
    rlock = dt.RLock(); free = held(rlock)
    yield "RLock.acquire", lambda: (rlock.acquire(), rlock.release()), free
    v = dt.Value(1); free = held(v)
    yield "Value.get", v.get, free
    for name, cond in (("Condition.wait", dt.Condition()), ("interruptably_wait", dt.Condition(dt.Lock()))):
        flag = []
        def block(cond=cond, flag=flag, name=name):
            with cond:
                if name == "Condition.wait":
                    while not flag:
                        cond.wait()
                else:
                    dt.interruptably_wait(cond, lambda: flag)
        def unblock(cond=cond, flag=flag):
            with cond:
                flag.append(1)
                cond.notify()
        yield name, block, unblock

def work():
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < 0.2:
        n += 1
    return n

baseline = work()
report = {"baseline": baseline}
for name, block, unblock in setups():
    t = threading.Thread(target=block, daemon=True)
    t.start()
    time.sleep(0.05)
    report[name] = work()  # runs only if the parked thread gave up the GIL
    alive = t.is_alive()
    unblock()
    t.join(10)
    report[name + " parked"] = alive and not t.is_alive()
print(json.dumps(report))
"""

KINDS = ["waiter", "Lock.acquire", "RLock.acquire", "Value.get", "Condition.wait", "interruptably_wait"]


@pytest.fixture(scope="module")
def report():
    result = run_python(CHILD, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("kind", KINDS)
def test_main_thread_runs_while_another_is_parked(report, kind):
    assert report[kind + " parked"] is True  # it was blocked the whole time, then woke
    # The same loop as the baseline, within noise: nobody held the GIL from it.
    assert report[kind] > report["baseline"] * 0.3
