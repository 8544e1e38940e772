"""Exceptions of every kind raised where dup_threading runs Python code: a
transform function, an async_split function, a waitFor / wait_for predicate
and a with_lock function. For every kind and every place:

* the very same exception object propagates (for async_split: out of every
  waiter() call, and out of caller() unless it is an Exception), with the
  traceback it had where it was raised;
* the Value / lock / condition is usable afterwards: its content unchanged, a
  later get/transform works, this thread holds a condition's lock again (and
  can release it), another thread can acquire it (with a timeout);
* once the test drops its references, the exception object is freed (nothing
  in the extension keeps it).

Kinds: Exception, a built-in Exception (exact type), KeyboardInterrupt and
SystemExit (exact and subclassed), GeneratorExit, a custom BaseException
subclass, MemoryError, StopIteration, a real RecursionError, an exception
whose __del__ raises, one whose __repr__ and __str__ raise, one with a huge
traceback (hundreds of frames) and a 1,000-long __context__/__cause__ chain,
one raised inside a generator, and (3.11+) ExceptionGroup and a
BaseExceptionGroup holding a KeyboardInterrupt.
"""

import gc
import sys
import threading
import time
import weakref

import pytest
from conftest import DEADLINE, join, start
from reliability_support import report

import dup_threading as dt

# ---- Exception kinds ----------------------------------------------------------


class PlainError(Exception):
    pass


class KISub(KeyboardInterrupt):
    pass


class ExitSub(SystemExit):
    pass


class CustomBase(BaseException):
    """Neither an Exception nor one of Python's own BaseExceptions."""


class DelRaises(Exception):
    deleted = 0

    def __del__(self):
        DelRaises.deleted += 1
        raise RuntimeError("raised by DelRaises.__del__")


class BadRepr(Exception):
    def __repr__(self):
        raise RuntimeError("raised by __repr__")

    def __str__(self):
        raise RuntimeError("raised by __str__")


class DeepError(Exception):
    pass


class ChainLink(Exception):
    pass


class GenError(Exception):
    pass


DEPTH = 300  # frames between fn and the raise (huge traceback)
CHAIN = 1000  # __context__ / __cause__ links


def raise_plain(exc):
    raise exc


def raise_deep(exc, depth=DEPTH):
    if depth:
        raise_deep(exc, depth - 1)
    raise exc


def raise_in_generator(exc):
    def gen():
        yield 1
        raise exc

    g = gen()
    next(g)
    next(g)


def raise_recursion(recorded):
    def recurse():
        recurse()

    try:
        recurse()
    except RecursionError as error:
        recorded.append(error)
        raise


def make_chained():
    links = [ChainLink(i) for i in range(CHAIN)]
    for prev, link in zip(links, links[1:]):
        link.__context__ = prev
    final = DeepError("end of a long chain")
    final.__cause__ = links[-1]
    return final


class Kind:
    """How to make and raise one kind of exception."""

    def __init__(self, name, make, raiser=raise_plain, weak=True):
        self.name, self.make, self.raiser, self.weak = name, make, raiser, weak

    def fn(self, recorded):
        """A no-argument function that raises a fresh exception of this kind,
        appending it to `recorded` first."""
        if self.make is None:  # a real RecursionError
            return lambda: raise_recursion(recorded)

        def raising():
            exc = self.make()
            recorded.append(exc)
            self.raiser(exc)

        return raising

    def __repr__(self):
        return self.name


KINDS = [
    Kind("Exception", lambda: PlainError("plain")),
    Kind("ValueError (exact built-in)", lambda: ValueError("exact"), weak=False),
    Kind("KeyboardInterrupt (exact)", KeyboardInterrupt, weak=False),
    Kind("KeyboardInterrupt subclass", KISub),
    Kind("SystemExit (exact)", lambda: SystemExit(3), weak=False),
    Kind("SystemExit subclass", lambda: ExitSub(4)),
    Kind("GeneratorExit (exact)", GeneratorExit, weak=False),
    Kind("custom BaseException", CustomBase),
    Kind("MemoryError (exact)", MemoryError, weak=False),
    Kind("StopIteration (exact)", lambda: StopIteration("stop"), weak=False),
    Kind("RecursionError (real)", None, weak=False),
    Kind("__del__ raises", lambda: DelRaises("del")),
    Kind("__repr__/__str__ raise", BadRepr),
    Kind("huge traceback and chain", make_chained, raise_deep),
    Kind("raised in a generator", lambda: GenError("gen"), raise_in_generator),
]
if sys.version_info >= (3, 11):

    class Group(ExceptionGroup):  # noqa: F821 - subclassed for weak references
        pass

    class BaseGroup(BaseExceptionGroup):  # noqa: F821
        pass

    KINDS += [
        Kind("ExceptionGroup", lambda: Group("group", [PlainError("a"), ValueError("b")])),
        Kind("BaseExceptionGroup with KeyboardInterrupt", lambda: BaseGroup("group", [KeyboardInterrupt(), PlainError("c")])),
    ]


def innermost_code(tb):
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code


def catch(call):
    """Runs call(); returns what it raised (failing if nothing)."""
    try:
        call()
    except BaseException as error:  # noqa: BLE001 - that is the point
        return error
    pytest.fail("no exception raised")


def same(raised, recorded):
    """The very object fn raised (a StopIteration that went through a
    generator comes out as PEP 479's RuntimeError, caused by it)."""
    assert recorded, "fn did not run"
    if raised is recorded[-1]:
        return True
    return isinstance(raised, RuntimeError) and raised.__cause__ is recorded[-1]


def acquirable_elsewhere(lock):
    def probe():
        if not lock.acquire(timeout=DEADLINE):
            return False
        lock.release()
        return True

    return join(start(probe))


def hold_briefly(lock, seconds=0.005):
    """Another thread holds lock for `seconds`; returns the thread once it holds it."""
    held = threading.Event()

    def run():
        lock.acquire()
        held.set()
        time.sleep(seconds)
        lock.release()

    t = start(run)
    assert held.wait(DEADLINE)
    return t


def notify_later(cond):
    """Notifies as soon as it gets the lock: once the caller, who holds it, waits."""

    def run():
        with cond:
            cond.notify_all()

    return start(run)


def false_then(fn):
    """A predicate: falsy the first time, then fn() (which raises)."""
    calls = []

    def predicate():
        calls.append(1)
        if len(calls) == 1:
            return False
        return fn()

    return predicate


# ---- Sites: each runs fn where dup_threading calls Python code --------------


def site_transform(fn, recorded):
    original = object()
    v = dt.Value(original)
    raised = catch(lambda: v.transform(lambda current: fn()))
    assert same(raised, recorded)
    assert v.get() is original, "the Value changed although fn raised"
    assert acquirable_elsewhere(v)
    assert v.transform(lambda current: (current, 1))[0] is original
    v.set(None)


def site_transform_contended(fn, recorded):
    """The Value is busy when transform starts: the waiting path."""
    original = object()
    v = dt.Value(original)
    holder = hold_briefly(v)
    raised = catch(lambda: v.transform(lambda current: fn()))
    join(holder)
    assert same(raised, recorded)
    assert v.get() is original
    assert acquirable_elsewhere(v)
    assert v.transform(lambda current: 5) == 5


def site_transform_generator_send(fn, recorded):
    """fn is a generator's send method (C), the raise inside the generator."""

    def gen():
        yield
        while True:
            yield fn()

    g = gen()
    next(g)
    original = object()
    v = dt.Value(original)
    raised = catch(lambda: v.transform(g.send))
    assert same(raised, recorded)
    assert v.get() is original
    assert acquirable_elsewhere(v)
    assert v.transform(lambda current: 6) == 6


def check_async_outcome(raised_by_caller, outcome, waiter, recorded, fn_code):
    exc = recorded[-1]
    is_exception = isinstance(exc, Exception)
    if is_exception:
        assert outcome == (False, waiter), f"caller() returned {outcome!r}"
    else:
        assert same(raised_by_caller, recorded), f"caller() raised {raised_by_caller!r}"
    for _ in range(2):
        raised = catch(waiter)
        assert same(raised, recorded), f"waiter() raised {raised!r}"
    assert same(catch(lambda: waiter(timeout=0)), recorded)
    assert waiter.done()
    if fn_code is not None:  # the traceback fn had, where it raised
        assert innermost_code(raised.__traceback__) is fn_code or isinstance(raised, RuntimeError)


def site_async_same_thread(fn, recorded, fn_code=None):
    waiter, caller = dt.async_split(fn)
    outcome = None
    try:
        outcome = caller()
        raised_by_caller = None
    except BaseException as error:  # noqa: BLE001
        raised_by_caller = error
    check_async_outcome(raised_by_caller, outcome, waiter, recorded, fn_code)
    # Nothing stuck: a new split works.
    w2, c2 = dt.async_split(lambda: 7)
    assert c2() == (True, w2) and w2() == 7


def site_async_other_thread(fn, recorded, fn_code=None):
    """This thread blocks in waiter() while another one runs fn."""
    waiter, caller = dt.async_split(fn)

    def call():
        time.sleep(0.005)
        return caller()

    t = start(call)
    raised = catch(lambda: waiter(timeout=DEADLINE))
    assert same(raised, recorded)
    t.join(DEADLINE)
    assert not t.is_alive()
    check_async_outcome(t.error, t.result, waiter, recorded, fn_code)


def cond_site(make_cond, after_notify):
    def site(fn, recorded):
        cond = make_cond()
        waitfor = false_then(fn) if after_notify else fn
        with cond:
            notifier = notify_later(cond) if after_notify else None
            raised = catch(lambda: dt.interruptably_wait(cond, waitfor))
            # Held again, by this thread: notify() raises RuntimeError otherwise.
            cond.notify_all()
        if notifier is not None:
            join(notifier)
        assert same(raised, recorded)
        assert acquirable_elsewhere(cond)
        with cond:
            dt.interruptably_wait(cond, lambda: True)

    return site


def site_wait_for_after_notify(fn, recorded):
    cond = dt.Condition(dt.Lock())
    predicate = false_then(fn)
    with cond:
        notifier = notify_later(cond)
        raised = catch(lambda: cond.wait_for(predicate))
        assert cond._lock.locked()
        cond.notify_all()
    join(notifier)
    assert same(raised, recorded)
    assert acquirable_elsewhere(cond)
    with cond:
        assert cond.wait_for(lambda: 8) == 8


def with_lock_site(make_lock):
    def site(fn, recorded):
        lock = make_lock()
        raised = catch(lambda: dt.with_lock(lock, fn))
        assert same(raised, recorded)
        assert acquirable_elsewhere(lock)
        assert dt.with_lock(lock, lambda: 9) == 9

    return site


SITES = {
    "Value.transform": site_transform,
    "Value.transform (Value busy)": site_transform_contended,
    "Value.transform (generator.send)": site_transform_generator_send,
    "async_split fn (caller on this thread)": site_async_same_thread,
    "async_split fn (waiter blocked, caller on another thread)": site_async_other_thread,
    "interruptably_wait waitFor (native Condition, first call)": cond_site(dt.Condition, False),
    "interruptably_wait waitFor (native Condition, after a notify)": cond_site(dt.Condition, True),
    "interruptably_wait waitFor (Condition(Lock), after a notify)": cond_site(lambda: dt.Condition(dt.Lock()), True),
    "interruptably_wait waitFor (threading.Condition, after a notify)": cond_site(threading.Condition, True),
    "Condition.wait_for predicate (after a notify)": site_wait_for_after_notify,
    "with_lock fn (Lock)": with_lock_site(dt.Lock),
    "with_lock fn (RLock)": with_lock_site(dt.RLock),
    "with_lock fn (Value)": with_lock_site(dt.Value),
}

covered = set()


@pytest.fixture
def unraisable(monkeypatch):
    """Collects what sys.unraisablehook receives (a __del__ that raises)."""
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: seen.append(u.exc_type))
    return seen


@pytest.mark.parametrize("site", SITES, ids=list(SITES))
@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_exception_propagates_and_everything_stays_usable(kind, site, unraisable):
    deleted_before = DelRaises.deleted

    def scenario():
        recorded = []
        fn = kind.fn(recorded)
        SITES[site](fn, recorded)
        assert recorded
        # Weak references to every instance fn raised (and to its context chain's end).
        return [weakref.ref(e) for e in recorded if kind.weak]

    refs = scenario()
    for _ in range(3):
        gc.collect()
        alive = [r for r in refs if r() is not None]
        if not alive:
            break
    assert not alive, f"{len(alive)} exception object(s) still alive: something kept a reference"
    if kind.name == "__del__ raises":
        assert DelRaises.deleted > deleted_before
        assert RuntimeError in unraisable, "the __del__ error was not reported as unraisable"
    covered.add((kind.name, site))


def test_async_traceback_is_the_one_fn_had():
    """waiter() re-raises with the traceback from inside fn (deep and in a generator)."""
    recorded = []
    fn = Kind("deep", lambda: DeepError("x"), raise_deep).fn(recorded)
    site_async_same_thread(fn, recorded, fn_code=raise_deep.__code__)
    recorded = []
    fn = Kind("gen", lambda: GenError("x"), raise_in_generator).fn(recorded)
    waiter, caller = dt.async_split(fn)
    caller()
    raised = catch(waiter)
    assert raised is recorded[-1]
    assert innermost_code(raised.__traceback__).co_name == "gen"
    depth = 0
    recorded = []
    waiter, caller = dt.async_split(Kind("deep", lambda: DeepError("x"), raise_deep).fn(recorded))
    caller()
    tb = catch(waiter).__traceback__
    while tb is not None:
        depth += 1
        tb = tb.tb_next
    assert depth > DEPTH


def test_report_exception_coverage():
    """Runs last in this file: prints what was covered (pytest -s)."""
    expected = {(k.name, s) for k in KINDS for s in SITES}
    if covered != expected:
        pytest.skip("run the whole file to get the coverage report")
    report(
        "Exceptions: kinds x places, each propagating the same object and leaving everything usable",
        {
            "kinds": f"{len(KINDS)}: " + ", ".join(k.name for k in KINDS),
            "places": f"{len(SITES)}: " + ", ".join(SITES),
            "combinations passed": len(covered),
        },
    )
