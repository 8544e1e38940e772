"""Child process of test_reliability_interrupts.py: KeyboardInterrupt injected
at random points, checked for lock consistency after each one.

Usage: reliability_interrupt_child.py SEED SECONDS

The main thread runs "windows", one after another until SECONDS have passed.
In each window it makes one call of dup_threading that another thread makes
block for a random few milliseconds (a holder thread holds the lock or Value,
a notifier thread notifies the condition later, a caller thread runs the async
function later), with a little pure-Python work before and after; or, in the
"python code" scenario, it runs pure Python code full of non-blocking calls
(with-statements, transforms, with_lock, async_split...) and nothing blocks.

An injector thread sends at most one SIGINT per window, at a random delay
(seeded) after the window opens, with signal.pthread_kill to the main thread
or (one time in four) os.kill to the process. The window's code runs inside
one try/except KeyboardInterrupt; when it closes, the main thread takes the
window's token back (then no signal can come) or, if the injector took it,
waits inside the try for the KeyboardInterrupt. So each window sees exactly
zero or one interrupt, and the checks that follow run without any.

Telling "the call failed" from "the call succeeded and the interrupt came just
after": the call is made as out.extend(starmap(op, args)) (op a C method, or a
functools.partial of one for keyword arguments), so C code calls `op` and
stores its result in `out` before any bytecode boundary (where CPython runs
signal handlers). An empty `out` after a KeyboardInterrupt means
the call itself raised (or never started), and then it must not hold anything;
a non-empty `out` means it completed.

After every window, with no interrupt possible: every helper thread is joined
with a timeout (none stuck), the lock / Value / condition is in exactly the
state the outcome implies (held at the same depth after a condition wait,
not held after a failed acquire or with_lock, the Value unchanged after a
failed set/transform, a holder thread never inside while we hold the lock),
and a later acquire with a timeout succeeds, from this thread and another.

Interrupt delays: 70% of the windows uniformly over the expected wait, 30%
aimed at its end (the wake-up, the re-acquire, the Python code the call then
runs). A watchdog (faulthandler, re-armed per window) ends the process with
every thread's stack if one window takes longer than WINDOW_LIMIT: a hang.

Prints one JSON line: the figures and any failure. Exit status 0 if none.
"""

import faulthandler
import inspect
import json
import os
import random
import re
import signal
import statistics
import sys
import threading
import time
import traceback
from functools import partial
from itertools import starmap

import dup_threading as dt

SEED = int(sys.argv[1])
SECONDS = float(sys.argv[2])
JOIN = 5.0  # bound on every join / later acquire
SLOW = 0.1  # an interrupt that takes longer than this to end a blocked call is listed
WINDOW_LIMIT = 20.0  # no window (with its checks) may take longer: a hang

# If anything hangs, dump every thread and exit (re-armed for every window;
# the parent also has a timeout).
faulthandler.dump_traceback_later(WINDOW_LIMIT, exit=True)

MAIN = threading.main_thread().ident
rng = random.Random(SEED)


class Failure(AssertionError):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


# ---- The injector ---------------------------------------------------------

window = []  # the open window's token (its number): the injector may take it and send one SIGINT
current = [(0, 0.0, 0.0, 0.0)]  # (token, opened at, lo, hi): the delay is uniform in [lo, hi] after opening
sent_at = []  # time of each SIGINT sent
sent_how = []  # and how: "pthread_kill" or "os.kill"
methods = {"pthread_kill": 0, "os.kill": 0}
wake = threading.Event()
stop = []


def injector(seed):
    irng = random.Random(seed)
    while not stop:
        if not wake.wait(0.2):
            continue
        wake.clear()
        token, opened, lo, hi = current[0]
        delay = opened + irng.uniform(lo, hi) - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        try:
            window.remove(token)  # atomic: either we take it or the main thread did
        except ValueError:
            continue  # the window closed first
        use_kill = irng.random() < 0.25
        how = "os.kill" if use_kill else "pthread_kill"
        methods[how] += 1
        sent_how.append(how)
        sent_at.append(time.monotonic())
        if use_kill:
            os.kill(os.getpid(), signal.SIGINT)
        else:
            signal.pthread_kill(MAIN, signal.SIGINT)


def arm(token, lo, hi):
    current[0] = (token, time.monotonic(), lo, hi)
    wake.set()
    window.append(token)  # last: no signal can come before this


def disarm(token):
    try:
        window.remove(token)  # taken back: no signal in this window
        return
    except ValueError:
        pass
    # The injector took it: its SIGINT is on the way; receive it here, in the try.
    deadline = time.monotonic() + JOIN
    while time.monotonic() < deadline:
        time.sleep(0.0002)
    raise Failure("a SIGINT was sent but no KeyboardInterrupt came within 5 s")


def noise(n):
    x = 0
    for i in range(n):
        x += i
    return x


def blocking_call(out, calls):
    out.extend(calls)  # the op runs here; see the module docstring


OP_LINE = blocking_call.__code__.co_firstlineno + 1
BLOCKING_CODE = blocking_call.__code__
THREADING_FILE = threading.__file__


def classify(error, out):
    """Where the KeyboardInterrupt was raised."""
    if out:
        return "after"  # the call completed; the interrupt came just after
    frames = []
    tb = error.__traceback__
    while tb is not None:
        frames.append((tb.tb_frame.f_code, tb.tb_lineno))
        tb = tb.tb_next
    codes = [code for code, _ in frames]
    if BLOCKING_CODE not in codes:
        return "python"
    i = codes.index(BLOCKING_CODE)
    if i == len(frames) - 1:
        return "native" if frames[i][1] == OP_LINE else "python"
    inner_code, _ = frames[-1]
    if inner_code.co_filename == THREADING_FILE and inner_code.co_name == "wait":
        return "native"  # blocked in threading.Condition.wait, called by interruptably_wait
    return "callback"  # in Python code the call ran (transform fn, predicate, with_lock fn)


# ---- Helper threads --------------------------------------------------------


class Helper:
    """A daemon thread; join() is bounded and re-raises what it raised."""

    def __init__(self, fn, *args):
        self.error = None
        self.ready = threading.Event()
        self.done = []
        self.inside = []  # non-empty while it holds the lock (mutual exclusion witness)
        self.thread = threading.Thread(target=self._run, args=(fn,) + args, daemon=True)
        self.thread.start()

    def _run(self, fn, *args):
        try:
            fn(self, *args)
        except BaseException as error:  # noqa: BLE001 - reported by join()
            self.error = error
        finally:
            self.ready.set()

    def wait_ready(self):
        check(self.ready.wait(JOIN), "helper thread did not start")
        if self.error is not None:
            raise Failure(f"helper thread failed: {self.error!r}")

    def join(self):
        self.done.append(1)
        self.thread.join(JOIN)
        check(not self.thread.is_alive(), "helper thread stuck (not finished 5 s after its work)")
        if self.error is not None:
            raise Failure(f"helper thread failed: {self.error!r}")


call_started = [0.0]  # when the current window's call started (for the slow-interrupt details)
release_at = [0.0]  # when the helper thread of the current window will let the call through


def hold(h, acquire, release, seconds):
    check(acquire(), "holder could not acquire")
    h.inside.append(1)
    release_at[0] = time.monotonic() + seconds
    h.ready.set()
    time.sleep(seconds)
    h.inside.pop()
    release()


def notify_until_done(h, cond, flag, seed):
    nrng = random.Random(seed)
    first = nrng.uniform(0.001, 0.012)
    release_at[0] = time.monotonic() + first
    h.ready.set()
    while not h.done:
        time.sleep(first or nrng.uniform(0.001, 0.012))
        first = 0
        with cond:
            h.inside.append(1)
            flag[0] = True
            cond.notify_all()
            time.sleep(nrng.uniform(0, 0.002))  # the waiter wakes and waits for the lock
            h.inside.pop()


def call_later(h, caller, seconds):
    release_at[0] = time.monotonic() + seconds
    h.ready.set()
    time.sleep(seconds)
    ok, _ = caller()
    check(ok, "the async function failed")


def free_elsewhere(lock):
    """Another thread can take `lock` without waiting (so nobody holds it)."""
    got = []

    def probe(h):
        if lock.acquire(blocking=False):
            got.append(1)
            lock.release()

    h = Helper(probe)
    h.join()
    return bool(got)


# ---- The primitives ---------------------------------------------------------

lock, rlock = dt.Lock(), dt.RLock()
value = dt.Value((0, 0))
expected = [(0, 0)]  # what value must hold
cond_r, cond_l = dt.Condition(), dt.Condition(dt.Lock())
tcond = threading.Condition()


def consistent(v):
    return isinstance(v, tuple) and len(v) == 2 and v[1] == 2 * v[0]


def callback_spin():
    """How long the Python code a call runs (transform fn, predicate, with_lock
    fn) spins: often nothing, sometimes up to ~1 ms, so that interrupts also
    land there."""
    return rng.choice((0, 300, 30_000, 30_000))


def incr(current, spin=0):
    noise(spin)
    n = current[0] + 1
    return (n, 2 * n)


# ---- Scenarios: setup -> (op, args, check) ----------------------------------


def lock_acquire(timed):
    def setup(hold_s):
        h = Helper(hold, lambda: lock.acquire(timeout=JOIN), lock.release, hold_s)
        h.wait_ready()

        def after(out, error):
            check(not h.inside or not out, "Lock acquired while the holder was inside")
            h.join()
            if out:
                check(out == [True], f"acquire returned {out}")
                check(lock.locked(), "acquire returned True but the Lock is not locked")
                lock.release()
            check(not lock.locked(), "Lock left locked after an interrupted acquire")

        return (partial(lock.acquire, timeout=JOIN) if timed else lock.acquire), [()], after

    return setup


def rlock_acquire(timed):
    def setup(hold_s):
        h = Helper(hold, lambda: rlock.acquire(timeout=JOIN), rlock.release, hold_s)
        h.wait_ready()

        def after(out, error):
            h.join()
            if out:
                check(out == [True], f"acquire returned {out}")
                check(rlock._is_owned() and rlock._recursion_count() == 1, "RLock not held once after acquire")
                rlock.release()
            check(not rlock._is_owned(), "RLock owned after an interrupted acquire")
            check(not rlock.locked(), "RLock left locked after an interrupted acquire")

        return (partial(rlock.acquire, timeout=JOIN) if timed else rlock.acquire), [()], after

    return setup


def lock_self_deadlock(timed):
    """acquire() of a Lock this thread holds: ends at its timeout, or (untimed)
    only by the interrupt."""

    def setup(hold_s):
        lock.acquire()
        release_at[0] = time.monotonic() + (hold_s if timed else 0.005)

        def after(out, error):
            check(out in ([], [False]), f"second acquire of a held Lock returned {out}")
            check(lock.locked(), "Lock no longer locked")
            lock.release()

        return (partial(lock.acquire, timeout=hold_s) if timed else lock.acquire), [()], after

    return setup


def value_op(kind):
    def setup(hold_s):
        h = Helper(hold, lambda: value.acquire(timeout=JOIN), value.release, hold_s)
        h.wait_ready()
        old = expected[0]
        spin = callback_spin()
        if kind == "get":
            op, args = value.get, [()]
        elif kind == "set":
            new = incr(old)
            op, args = value.set, [(new,)]
        elif kind == "transform":
            op, args = value.transform, [(lambda cur: incr(cur, spin),)]
        elif kind == "acquire":
            op, args = value.acquire, [()]
        elif kind == "acquire(timeout)":
            op, args = partial(value.acquire, timeout=JOIN), [()]
        else:  # with_lock

            def body():
                check(not h.inside, "with_lock(Value) body ran while the holder held the Value")
                noise(spin)
                return value.get()

            op, args = dt.with_lock, [(value, body)]

        def after(out, error):
            h.join()
            if kind == "get" and out:
                check(out[0] == old, f"get() returned {out[0]!r}, expected {old!r}")
            elif kind == "set":
                expected[0] = new if out else old
            elif kind == "transform":
                if out:
                    check(out[0] == incr(old), f"transform returned {out[0]!r}")
                    expected[0] = out[0]
            elif kind.startswith("acquire") and out:
                check(out == [True], f"acquire returned {out}")
                value.release()
            got = value.get()
            check(consistent(got), f"Value holds an inconsistent {got!r}")
            check(got == expected[0], f"Value holds {got!r}, expected {expected[0]!r} (out={out})")
            check(free_elsewhere(value), f"Value still held after Value.{kind}")

        return op, args, after

    return setup


def with_lock_on(name):
    target = {"Lock": lock, "RLock": rlock, "Condition": cond_l}[name]

    def setup(hold_s):
        h = Helper(hold, lambda: target.acquire(timeout=JOIN), target.release, hold_s)
        h.wait_ready()
        spin = callback_spin()

        def body():
            check(not h.inside, f"with_lock({name}) body ran while the holder held the lock")
            return noise(spin)

        def after(out, error):
            h.join()
            check(free_elsewhere(target), f"with_lock({name}) left the lock held")
            if name == "RLock":
                check(not rlock._is_owned(), "with_lock(RLock) left the RLock owned")

        return dt.with_lock, [(target, body)], after

    return setup


def owned_depth(cond):
    """How many levels of cond's lock this thread holds (None: held, depth unknown)."""
    lk = cond._lock
    if isinstance(lk, dt.Lock):
        return None if lk.locked() else 0
    if not lk._is_owned():
        return 0
    if hasattr(lk, "_recursion_count"):
        return lk._recursion_count()
    # threading's RLock before 3.11 has no _recursion_count(); its repr shows
    # the count (read without releasing the lock, which a helper may want).
    return int(re.search(r"count=(\d+)", repr(lk)).group(1))


def cond_wait(cond_name, how):
    cond = {"Condition(RLock)": cond_r, "Condition(Lock)": cond_l, "threading.Condition": tcond}[cond_name]

    def setup(hold_s):
        flag = [False]
        depth = rng.choice((1, 2)) if cond is not cond_l else 1
        for _ in range(depth):
            cond.acquire()
        h = Helper(notify_until_done, cond, flag, rng.randrange(1 << 30))
        h.wait_ready()
        spin = callback_spin()

        def pred():
            noise(spin)
            return flag[0]

        if how == "wait":
            op, args = cond.wait, [()]
        elif how == "wait(timeout)":
            op, args = cond.wait, [(JOIN,)]
        elif how == "wait_for":
            op, args = cond.wait_for, [(pred,)]
        else:
            op, args = dt.interruptably_wait, [(cond, pred)]

        def after(out, error):
            held = owned_depth(cond)
            if cond is tcond and held == 0 and error is not None and cpython_condition_window(error):
                stats["cpython threading.Condition windows"] += 1
                h.join()
                return  # CPython's own threading.Condition.wait lost the lock; not ours
            check(held == depth or (held is None and depth == 1),
                  f"{cond_name}.{how}: lock held at depth {held} afterwards, expected {depth} (out={out})")
            check(not h.inside, f"{cond_name}: notifier inside while we hold the lock")
            if out:
                check(out[0] in (True, None), f"{how} returned {out[0]!r}")
            h.done.append(1)
            for _ in range(depth):
                cond.release()
            h.join()
            check(free_elsewhere(cond), f"{cond_name} lock still held after {how}")

        return op, args, after

    return setup


def _release_save_lines():
    """The lines of threading.Condition.wait from its _release_save() call to
    its `try:`: an interrupt there leaves the lock released (CPython's own
    window, not this module's)."""
    lines, first = inspect.getsourcelines(threading.Condition.wait)
    start = next(i for i, line in enumerate(lines) if "_release_save()" in line)
    end = next(i for i in range(start, len(lines)) if lines[i].strip().startswith("try:"))
    return range(first + start, first + end)


RELEASE_SAVE_LINES = _release_save_lines()


def cpython_condition_window(error):
    """True if the KeyboardInterrupt hit threading.Condition.wait between its
    _release_save() and its try:."""
    tb = error.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    return code is threading.Condition.wait.__code__ and tb.tb_lineno in RELEASE_SAVE_LINES


def waiter_call(timed):
    def setup(hold_s):
        token = object()
        waiter, caller = dt.async_split(lambda: token)
        h = Helper(call_later, caller, hold_s)
        h.wait_ready()

        def after(out, error):
            h.join()
            if out:
                check(out[0] is token, "waiter() returned the wrong object")
            check(waiter.done(), "waiter not done after the caller finished")
            check(waiter(timeout=JOIN) is token, "waiter() after the interrupt returned the wrong object")

        return waiter, [(JOIN,)] if timed else [()], after

    return setup


def python_work(n):
    """Pure Python code full of non-blocking calls, each of them safe for an
    interrupt at any bytecode boundary (with-statements, C calls)."""
    x = 0
    for i in range(n):
        with lock:
            x += 1
        with rlock:
            with rlock:
                x += 1
        with value:
            value.set(value.get())
        value.transform(incr)
        dt.with_lock(lock, (lambda: noise(300)) if i & 1 else int)
        dt.with_lock(rlock, int)
        dt.with_lock(value, value.get)
        dt.with_lock(cond_r, int)
        with cond_r:
            cond_r.notify_all()
            cond_r.wait(0)
        with cond_l:
            cond_l.wait_for(lambda: True)
        with cond_r:
            dt.interruptably_wait(cond_r, lambda: True)
        w, c = dt.async_split(lambda: x)
        c()
        w()
        w, c = dt.async_split(lambda: 1 // 0)
        c()
        try:
            w()
        except ZeroDivisionError:
            pass
    return x


def python_code(hold_s):
    n = rng.randrange(20, 200)

    def after(out, error):
        check(not lock.locked(), "Lock left locked by Python code")
        check(not rlock.locked() and not rlock._is_owned(), "RLock left held by Python code")
        check(not cond_r._lock.locked() and not cond_l._lock.locked(), "a Condition's lock left held")
        check(free_elsewhere(value), "Value left held by Python code")
        got = value.get()
        check(consistent(got) and got[0] >= expected[0][0], f"Value holds {got!r} after {expected[0]!r}")
        expected[0] = got

    return python_work, [(n,)], after


SCENARIOS = {
    "Lock.acquire()": lock_acquire(False),
    "Lock.acquire(timeout)": lock_acquire(True),
    "Lock.acquire(timeout) on own lock": lock_self_deadlock(True),
    "Lock.acquire() on own lock (only the interrupt ends it)": lock_self_deadlock(False),
    "RLock.acquire()": rlock_acquire(False),
    "RLock.acquire(timeout)": rlock_acquire(True),
    "Value.get()": value_op("get"),
    "Value.set()": value_op("set"),
    "Value.transform()": value_op("transform"),
    "Value.acquire()": value_op("acquire"),
    "Value.acquire(timeout)": value_op("acquire(timeout)"),
    "with_lock(Value)": value_op("with_lock"),
    "with_lock(Lock)": with_lock_on("Lock"),
    "with_lock(RLock)": with_lock_on("RLock"),
    "with_lock(Condition)": with_lock_on("Condition"),
    "Condition(RLock).wait()": cond_wait("Condition(RLock)", "wait"),
    "Condition(RLock).wait(timeout)": cond_wait("Condition(RLock)", "wait(timeout)"),
    "Condition(Lock).wait()": cond_wait("Condition(Lock)", "wait"),
    "Condition(RLock).wait_for()": cond_wait("Condition(RLock)", "wait_for"),
    "Condition(Lock).wait_for()": cond_wait("Condition(Lock)", "wait_for"),
    "interruptably_wait(Condition(RLock))": cond_wait("Condition(RLock)", "interruptably_wait"),
    "interruptably_wait(Condition(Lock))": cond_wait("Condition(Lock)", "interruptably_wait"),
    "interruptably_wait(threading.Condition)": cond_wait("threading.Condition", "interruptably_wait"),
    "waiter()": waiter_call(False),
    "waiter(timeout)": waiter_call(True),
    "python code (nothing blocks)": python_code,
}
PYTHON = "python code (nothing blocks)"
UNTIMED_SELF = "Lock.acquire() on own lock (only the interrupt ends it)"
NAMES = list(SCENARIOS) + [PYTHON] * 3  # weight: 4 of 28
CLASSES = ("native", "callback", "after", "python", "none")

stats = {"cpython threading.Condition windows": 0}


def run_window(token, op, args, n1, n2, lo, hi, out):
    """One window; returns the KeyboardInterrupt caught, or None."""
    try:
        arm(token, lo, hi)
        noise(n1)
        calls = starmap(op, args)
        call_started[0] = time.monotonic()
        blocking_call(out, calls)
        noise(n2)
        disarm(token)
    except KeyboardInterrupt as error:
        return error
    return None


def final_checks():
    check(not lock.locked() and not rlock.locked(), "a lock is held at the end")
    for c in (cond_r, cond_l):
        check(free_elsewhere(c), "a condition's lock is held at the end")
    check(free_elsewhere(value), "the Value is held at the end")
    check(value.get() == expected[0], "the Value changed")
    # The Value's busy count is intact: with another thread holding the Value,
    # get() must wait for it without the GIL (a count wrongly at 0 would
    # block in the library with the GIL held: a deadlock, caught by the
    # watchdog), then return once the holder lets go.
    for _ in range(20):
        h = Helper(hold, lambda: value.acquire(timeout=JOIN), value.release, 0.005)
        h.wait_ready()
        check(value.get() == expected[0], "get() on a held Value")
        check(not h.inside, "get() returned while another thread held the Value")
        h.join()
    extra = [t for t in threading.enumerate() if t is not threading.main_thread() and t.name != "injector"]
    check(not extra, f"threads left running: {extra}")


def main():
    inj = threading.Thread(target=injector, args=(SEED ^ 0x5EED,), name="injector", daemon=True)
    inj.start()
    per = {name: dict.fromkeys(CLASSES, 0) for name in SCENARIOS}
    latency = []
    slow = []
    windows = 0
    failure = None
    started = time.monotonic()
    end = started + SECONDS
    while time.monotonic() < end:
        name = rng.choice(NAMES)
        hold_s = rng.uniform(0.002, 0.025)
        windows += 1
        faulthandler.dump_traceback_later(WINDOW_LIMIT, exit=True)
        error = None
        try:
            op, args, after = SCENARIOS[name](hold_s)
            remaining = max(0.0, release_at[0] - time.monotonic())
            if name == PYTHON:
                lo, hi = 0.0, args[0][0] * 90e-6
            elif name == UNTIMED_SELF:
                lo, hi = 0.0, 0.005  # only the interrupt ends this call: always send one
            elif rng.random() < 0.3:
                # Aim at the end of the wait: the wake-up, the re-acquire, the
                # Python code the call runs then (up to ~0.5 ms), the return.
                lo, hi = remaining, remaining + 0.002
            else:
                lo, hi = 0.0, remaining + 0.001
            out = []
            error = run_window(windows, op, args, rng.randrange(0, 200), rng.randrange(0, 200), lo, hi, out)
            if error is None:
                kind = "none"
            else:
                kind = classify(error, out)
                if name == PYTHON and kind != "after":
                    kind = "python"  # nothing blocks there: wherever it landed, it was Python code
                if kind == "native":
                    latency.append(time.monotonic() - sent_at[-1])
                    if latency[-1] > SLOW and len(slow) < 20:
                        slow.append({"scenario": name, "sent_with": sent_how[-1], "window": windows,
                                     "ms": round(latency[-1] * 1000, 1),
                                     "sent_after_call_started_ms": round((sent_at[-1] - call_started[0]) * 1000, 2),
                                     "call_timeout_ms": round(hold_s * 1000, 2),
                                     "interrupt": "".join(traceback.format_exception(error))[-600:]})
            per[name][kind] += 1
            after(out, error)
        except Failure as f:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # the window may still be open: report in peace
            failure = {
                "window": windows,
                "scenario": name,
                "message": str(f),
                "interrupt": None if error is None else "".join(traceback.format_exception(error)),
                "traceback": traceback.format_exc(),
            }
            break
    elapsed = time.monotonic() - started
    if failure is None:
        try:
            final_checks()
        except Failure as f:
            failure = {"scenario": "final checks", "message": str(f), "traceback": traceback.format_exc()}
    faulthandler.dump_traceback_later(WINDOW_LIMIT, exit=True)
    stop.append(1)
    wake.set()
    inj.join(JOIN)
    totals = dict.fromkeys(CLASSES, 0)
    for counts in per.values():
        for k, v in counts.items():
            totals[k] += v
    result = {
        "seed": SEED,
        "seconds": round(elapsed, 2),
        "windows": windows,
        "sent": len(sent_at),
        "received": sum(totals[k] for k in CLASSES if k != "none"),
        "methods": methods,
        "classes": totals,
        "per_scenario": per,
        "latency_ms": {
            "n": len(latency),
            "median": round(statistics.median(latency) * 1000, 3) if latency else None,
            "max": round(max(latency) * 1000, 3) if latency else None,
            "over_100ms": sum(1 for x in latency if x > SLOW),
            "slow": slow,
        },
        "stats": stats,
        "failure": failure,
    }
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    os._exit(0 if failure is None else 1)


if __name__ == "__main__":
    main()
