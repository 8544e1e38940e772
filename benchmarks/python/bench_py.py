"""The Python benchmark of dup_threading (the CPython extension) against
duplicity's own pure-Python module (duplicity.dup_threading, 2.2.4) and the
standard library.

Run by benchmarks/run.py inside its venv:

    python bench_py.py [--quick] [--rounds N] [--sample-ms MS] [--only NAME,...]
                       [--duplicity-path DIR]

--duplicity-path DIR loads duplicity's package from DIR (an unpacked wheel or
sdist) with importlib instead of importing the installed one.

Output: one JSON object per line on stdout, as the C and Swift benchmarks
print them ({"suite":"python","bench":...,"contender":...,"round":...,
"value":...,"unit":...}), plus "check" and "meta" lines. Contenders of one
benchmark run interleaved, the order reversed every other round; benchmarks
across threads, the noisiest, run twice as many rounds.

Per-op figures: a loop of n iterations, each doing the operation UNROLL times
(the statement is repeated in the loop body, as timeit does with its number
of loops, so that the for-loop's own cost is a small share), timed with
time.perf_counter_ns. Nothing is subtracted.
"""

import argparse
import importlib.util
import json
import os
import resource
import sys
import threading
import time

UNROLL = 10
SUITE = "python"


def emit(obj):
    obj = {"suite": SUITE, **obj}
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def progress(msg):
    sys.stderr.write("python bench: " + msg + "\n")
    sys.stderr.flush()


# ---- loading the contenders ---------------------------------------------------------


def load_duplicity(path):
    """duplicity.dup_threading: the installed one, or loaded from an unpacked
    wheel/sdist directory with importlib."""
    if not path:
        import duplicity.dup_threading as dup

        return dup, "installed package: " + os.path.dirname(dup.__file__)
    pkg_dir = os.path.join(path, "duplicity")
    spec = importlib.util.spec_from_file_location(
        "duplicity", os.path.join(pkg_dir, "__init__.py"), submodule_search_locations=[pkg_dir]
    )
    pkg = importlib.util.module_from_spec(spec)
    sys.modules["duplicity"] = pkg
    spec.loader.exec_module(pkg)
    spec = importlib.util.spec_from_file_location("duplicity.dup_threading", os.path.join(pkg_dir, "dup_threading.py"))
    dup = importlib.util.module_from_spec(spec)
    sys.modules["duplicity.dup_threading"] = dup
    spec.loader.exec_module(dup)
    return dup, "loaded with importlib from " + pkg_dir


class RLockValue:
    """A correct pure-Python Value.transform under threading.RLock (the
    baseline for transform, since duplicity's own raises AttributeError)."""

    def __init__(self, value=None):
        self._value = value
        self._lock = threading.RLock()

    def transform(self, fn):
        with self._lock:
            self._value = fn(self._value)
            return self._value

    def get(self):
        with self._lock:
            return self._value


def fixed_duplicity_value_class(dup):
    """duplicity's Value with its transform bug fixed the obvious way (its
    private Condition instead of the missing self.cv): what duplicity's own
    design would cost."""

    class FixedValue(dup.Value):
        def transform(self, fn):
            def _transform():
                self._Value__value = fn(self._Value__value)
                return self._Value__value

            return dup.with_lock(self._Value__cv, _transform)

    return FixedValue


# ---- the harness ------------------------------------------------------------------


class Contender:
    """run(n) performs n operations and returns the nanoseconds taken."""

    def __init__(self, name, run):
        self.name = name
        self.run = run
        self.n = None


def loop_contender(name, stmt, env, unroll=UNROLL):
    """A contender that runs `stmt` in a tight loop, unrolled `unroll` times;
    the names in `env` are locals of the loop function."""
    args = "".join(f", {k}={k}" for k in env)
    lines = [
        "def make(" + ", ".join(env) + "):",
        "    def inner(_n, _perf=_perf" + args + "):",
        "        _it = range(_n)",
        "        _t0 = _perf()",
        "        for _ in _it:",
    ]
    lines += ["            " + stmt] * unroll
    lines += ["        return _perf() - _t0", "    return inner"]
    src = "\n".join(lines) + "\n"
    ns = {"_perf": time.perf_counter_ns}
    exec(src, ns)
    inner = ns["make"](**env)

    def run(n):
        iters = max(1, n // unroll)
        return inner(iters) * n / (iters * unroll)

    return Contender(name, run)


class Runner:
    def __init__(self, opts):
        self.opts = opts

    def selected(self, bench):
        return not self.opts.only or bench in self.opts.only

    def calibrate(self, c, start):
        target = self.opts.sample_ms * 1e6
        n = start
        c.run(n)  # warm-up
        while True:
            t = c.run(n)
            if t >= target / 4 or n >= 1 << 28:
                return max(1, int(n * target / max(t, 1)))
            n *= 2

    def interleaved(self, bench, contenders, start=1000, unit="ns/op", round_factor=1):
        if not self.selected(bench):
            return
        progress(bench)
        for c in contenders:
            c.n = self.calibrate(c, start)
        for r in range(self.opts.rounds * round_factor):
            order = contenders if r % 2 == 0 else contenders[::-1]
            for c in order:
                t = c.run(c.n)
                emit({"bench": bench, "contender": c.name, "round": r, "value": t / c.n, "unit": unit, "n": c.n})


# ---- the benchmarks -----------------------------------------------------------------


def bench_value(runner, dt, dup):
    v_dt, v_dup = dt.Value(1), dup.Value(1)
    runner.interleaved(
        "value_get",
        [
            loop_contender("dup_threading", "v.get()", {"v": v_dt}),
            loop_contender("duplicity", "v.get()", {"v": v_dup}),
        ],
    )
    runner.interleaved(
        "value_set",
        [
            loop_contender("dup_threading", "v.set(1)", {"v": v_dt}),
            loop_contender("duplicity", "v.set(1)", {"v": v_dup}),
        ],
    )


def bench_floor(runner):
    """For information: what any call costs here, whatever the library does.
    A no-op C method (the floor of get/set/acquire), and the transform's
    lambda called directly (which every transform must call once)."""
    inc = lambda x: x + 1  # noqa: E731
    runner.interleaved(
        "call_floor",
        [
            loop_contender("threading.Lock().locked() (no-op C method)", "l.locked()", {"l": threading.Lock()}),
            loop_contender("inc(x) (the transform's lambda alone)", "inc(1)", {"inc": inc}),
        ],
    )


def check_transforms(dt, dup):
    # duplicity's own transform: expected to raise AttributeError.
    try:
        dup.Value(1).transform(lambda x: x + 1)
        emit({"check": "duplicity_transform_raises", "ok": False, "detail": "duplicity's Value.transform did not raise"})
    except AttributeError as e:
        emit({"check": "duplicity_transform_raises", "ok": True, "detail": f"AttributeError: {e}"})
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        emit({"check": "duplicity_transform_raises", "ok": False, "detail": f"{type(e).__name__}: {e}"})
    v = dt.Value(1)
    ok = v.transform(lambda x: x + 1) == 2 and v.get() == 2
    emit({"check": "dup_threading_transform_works", "ok": ok, "detail": f"Value(1).transform(lambda x: x + 1) -> {v.get()}"})


def bench_transform(runner, dt, dup):
    inc = lambda x: x + 1  # noqa: E731 - the lambda of the target
    runner.interleaved(
        "value_transform",
        [
            loop_contender("dup_threading", "v.transform(inc)", {"v": dt.Value(0), "inc": inc}),
            loop_contender("pure_python_rlock", "v.transform(inc)", {"v": RLockValue(0), "inc": inc}),
            loop_contender("duplicity_fixed", "v.transform(inc)", {"v": fixed_duplicity_value_class(dup)(0), "inc": inc}),
        ],
    )


def bench_with_lock(runner, dt, dup):
    fn = lambda: None  # noqa: E731
    runner.interleaved(
        "with_lock",
        [
            loop_contender("dup_threading", "with_lock(lock, fn)", {"with_lock": dt.with_lock, "lock": dt.Lock(), "fn": fn}),
            loop_contender(
                "duplicity", "with_lock(lock, fn)", {"with_lock": dup.with_lock, "lock": threading.Lock(), "fn": fn}
            ),
        ],
    )


def bench_async_split_same_thread(runner, dt, dup):
    fn = lambda: 1  # noqa: E731
    stmt = "w, c = split(fn); c(); w()"
    runner.interleaved(
        "async_split_same_thread",
        [
            loop_contender("dup_threading", stmt, {"split": dt.async_split, "fn": fn}),
            loop_contender("duplicity", stmt, {"split": dup.async_split, "fn": fn}),
        ],
    )


def usable_cpus():
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return []


def handoff_contender(name, kind, dt, dup, placement=None):
    """Round trips to a worker thread that is already running and blocked
    waiting for work. The worker's mailbox is a threading.Event in all
    variants; what differs is how the main thread gets the result back.
    placement: None (the scheduler's choice), or (main CPU, worker CPU)."""

    def pin(cpu):
        if placement is not None:
            os.sched_setaffinity(0, {cpu})  # 0: the calling thread, on Linux

    def run(n):
        original = os.sched_getaffinity(0) if placement is not None else None
        pin(placement[0] if placement else None)
        try:
            return run_placed(n)
        finally:
            if original is not None:
                os.sched_setaffinity(0, original)

    def run_placed(n):
        work = threading.Event()
        done = threading.Event()
        box = [None, None]  # job, result
        stop = object()

        if kind == "event":

            def worker():
                pin(placement[1] if placement else None)
                while True:
                    work.wait()
                    work.clear()
                    job = box[0]
                    if job is stop:
                        return
                    box[1] = job()
                    done.set()

        else:

            def worker():
                pin(placement[1] if placement else None)
                while True:
                    work.wait()
                    work.clear()
                    job = box[0]
                    if job is stop:
                        return
                    job()

        th = threading.Thread(target=worker, daemon=True)
        th.start()
        time.sleep(0.002)  # let it block
        fn = lambda: 1  # noqa: E731
        total = 0
        perf = time.perf_counter_ns
        if kind == "event":
            t0 = perf()
            for _ in range(n):
                box[0] = fn
                work.set()
                done.wait()
                done.clear()
                total += box[1]
            t = perf() - t0
        else:
            split = dt.async_split if kind == "dup_threading" else dup.async_split
            t0 = perf()
            for _ in range(n):
                w, c = split(fn)
                box[0] = c
                work.set()
                total += w()
            t = perf() - t0
        box[0] = stop
        work.set()
        th.join()
        if total != n:
            emit({"check": f"handoff_{kind}_results", "ok": False, "detail": f"{total} != {n}"})
        return t

    return Contender(name, run)


def bench_async_split_handoff(runner, dt, dup):
    # Unpinned (what a program gets), then, to separate the library's cost
    # from where the scheduler puts the threads, pinned to one CPU and to two.
    cpus = usable_cpus()
    placements = [("", None)]
    if cpus:
        placements.append(("_same_cpu", (cpus[0], cpus[0])))
    if len(cpus) >= 2:
        placements.append(("_two_cpus", (cpus[0], cpus[1])))
    for suffix, placement in placements:
        runner.interleaved(
            "async_split_handoff" + suffix,
            [
                handoff_contender("dup_threading", "dup_threading", dt, dup, placement),
                handoff_contender("threading.Event", "event", dt, dup, placement),
                handoff_contender("duplicity", "duplicity", dt, dup, placement),
            ],
            start=50,
            round_factor=2,
        )


def contended_contender(name, make_value, threads=4):
    """`threads` threads each doing n/threads transforms on one shared value;
    returns the wall time of the whole, so n / time is total throughput."""

    def run(n):
        per = max(1, n // threads)
        v = make_value()
        inc = lambda x: x + 1  # noqa: E731
        barrier = threading.Barrier(threads)
        times = []

        # Each worker reads the clock itself: the main thread only joins, so
        # that it does not compete for the GIL when it would read it.
        def worker():
            t = v.transform
            perf = time.perf_counter_ns
            barrier.wait()
            t0 = perf()
            for _ in range(per):
                t(inc)
            times.append((t0, perf()))

        ths = [threading.Thread(target=worker) for _ in range(threads)]
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        t = max(e for _, e in times) - min(s for s, _ in times)
        if v.get() != per * threads:
            emit({"check": f"contended_{name}_count", "ok": False, "detail": f"{v.get()} != {per * threads}"})
        return t * n / (per * threads)

    return Contender(name, run)


def bench_contended(runner, dt, dup):
    runner.interleaved(
        "contended_transform_4t",
        [
            contended_contender("dup_threading", lambda: dt.Value(0)),
            contended_contender("pure_python_rlock", lambda: RLockValue(0)),
        ],
        start=4000,
        round_factor=2,
    )


def bench_locks(runner, dt, dup):
    runner.interleaved(
        "lock_acquire_release",
        [
            loop_contender("dup_threading.Lock", "l.acquire(); l.release()", {"l": dt.Lock()}),
            loop_contender("threading.Lock", "l.acquire(); l.release()", {"l": threading.Lock()}),
        ],
    )
    runner.interleaved(
        "rlock_acquire_release",
        [
            loop_contender("dup_threading.RLock", "l.acquire(); l.release()", {"l": dt.RLock()}),
            loop_contender("threading.RLock", "l.acquire(); l.release()", {"l": threading.RLock()}),
        ],
    )
    # For information: the context-manager form.
    runner.interleaved(
        "lock_with_statement",
        [
            loop_contender("dup_threading.Lock", "with l: pass", {"l": dt.Lock()}),
            loop_contender("threading.Lock", "with l: pass", {"l": threading.Lock()}),
        ],
    )


def idle_wait_sample(wait_fn, cond, seconds):
    """Voluntary context switches of a thread idle in wait_fn(cond, pred) for
    `seconds`, ended by a notify."""
    result = {}
    flag = [False]
    started = threading.Event()

    def waiter():
        with cond:
            started.set()
            before = resource.getrusage(resource.RUSAGE_THREAD)
            t0 = time.perf_counter_ns()
            wait_fn(cond, lambda: flag[0])
            t1 = time.perf_counter_ns()
            after = resource.getrusage(resource.RUSAGE_THREAD)
        result["nvcsw"] = after.ru_nvcsw - before.ru_nvcsw
        result["nivcsw"] = after.ru_nivcsw - before.ru_nivcsw
        result["seconds"] = (t1 - t0) / 1e9

    th = threading.Thread(target=waiter, daemon=True)  # never keeps the process alive
    th.start()
    started.wait()
    time.sleep(seconds)
    with cond:
        flag[0] = True
        cond.notify_all()
    th.join(seconds + 10)
    return result if "nvcsw" in result else None


def bench_idle_wait(runner, dt, dup, quick):
    bench = "idle_wait_csw"
    if not runner.selected(bench):
        return
    seconds = 1.0 if quick else 2.0
    rounds = 1 if quick else 2
    progress(f"{bench} ({rounds} x {seconds:.0f} s per contender)")
    contenders = [
        ("dup_threading", dt.interruptably_wait, dt.Condition),
        ("duplicity", dup.interruptably_wait, threading.Condition),
        ("dup_threading+threading.Condition", dt.interruptably_wait, threading.Condition),
    ]
    for r in range(rounds):
        order = contenders if r % 2 == 0 else contenders[::-1]
        for name, fn, make_cond in order:
            res = idle_wait_sample(fn, make_cond(), seconds)
            if res is None:
                emit({"check": f"idle_wait_{name}_woken", "ok": False, "detail": "the waiter did not return "
                      "within 10 s of the notify"})
                continue
            emit(
                {
                    "bench": bench,
                    "contender": name,
                    "round": r,
                    "value": res["nvcsw"] / res["seconds"],
                    "unit": "csw/s",
                    **res,
                }
            )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--sample-ms", type=float)
    ap.add_argument("--only", type=lambda s: set(s.split(",")))
    ap.add_argument("--duplicity-path")
    opts = ap.parse_args()
    if opts.rounds is None:
        opts.rounds = 3 if opts.quick else 15
    if opts.sample_ms is None:
        opts.sample_ms = 4.0 if opts.quick else 20.0

    import dup_threading as dt

    dup, dup_origin = load_duplicity(opts.duplicity_path)
    emit(
        {
            "meta": {
                "python": sys.version.split()[0],
                "dup_threading_file": dt.__file__,
                "dup_threading_version": getattr(dt, "__version__", "?"),
                "library_version": getattr(dt, "LIBRARY_VERSION", "?"),
                "duplicity_module": dup.__file__,
                "duplicity_origin": dup_origin,
                "switch_interval": sys.getswitchinterval(),
                "rounds": opts.rounds,
                "sample_ms": opts.sample_ms,
                "unroll": UNROLL,
                "quick": opts.quick,
            }
        }
    )
    runner = Runner(opts)
    check_transforms(dt, dup)
    bench_value(runner, dt, dup)
    bench_transform(runner, dt, dup)
    bench_with_lock(runner, dt, dup)
    bench_async_split_same_thread(runner, dt, dup)
    bench_async_split_handoff(runner, dt, dup)
    bench_contended(runner, dt, dup)
    bench_locks(runner, dt, dup)
    bench_floor(runner)
    bench_idle_wait(runner, dt, dup, opts.quick)
    emit({"done": True})


if __name__ == "__main__":
    main()
