"""Duplicity's threading utilities, natively: a drop-in replacement for
``duplicity.dup_threading`` over libdupthreading.

Same names and signatures as duplicity's module (``Value``, ``with_lock``,
``interruptably_wait``, ``async_split``, ``require_threading``,
``threading_supported``, ``thread_module``, ``threading_module``), plus native
``Lock``, ``RLock`` and ``Condition`` types that behave like threading's.

Differences from duplicity's pure-Python module, all deliberate:

* Every blocking wait (``waiter()``, ``interruptably_wait``, ``Lock.acquire``,
  ``Condition.wait``, ``Value.get`` on a Value another thread holds...)
  releases the GIL, wakes at once when notified (no 100 ms polling) and raises
  ``KeyboardInterrupt`` promptly on Ctrl-C in the main thread.
* ``Value.transform`` works (duplicity's raises AttributeError), and a Value
  is also a context manager (``with value: ...``).
* ``caller()`` lets a ``BaseException`` that is not an ``Exception``
  (KeyboardInterrupt, SystemExit) propagate instead of reporting
  ``(False, waiter)``; the waiters re-raise that same exception, so they never
  hang. A caller discarded without being called makes its waiters raise
  RuntimeError. ``waiter(timeout=...)`` raises TimeoutError when it passes.
* ``Condition`` accepts any lock: with this module's ``Lock``/``RLock`` (the
  default) it is native; with another lock it delegates to a private
  ``threading.Condition`` over that lock.

Everything here is thread-safe.
"""

import _thread
import threading as _threading

from ._native import (
    LIBRARY_VERSION,
    AsyncCaller,
    AsyncWaiter,
    Condition,
    Lock,
    NotSupported,
    RLock,
    Value,
    async_split,
    interruptably_wait,
    require_threading,
    threading_supported,
    with_lock,
)

__version__ = "1.0.0"

#: Correctly spelled alias of :func:`interruptably_wait`.
interruptible_wait = interruptably_wait


def thread_module():
    """Returns the low-level thread module (``_thread``)."""
    return _thread


def threading_module():
    """Returns the ``threading`` module."""
    return _threading


__all__ = [
    "AsyncCaller",
    "AsyncWaiter",
    "Condition",
    "LIBRARY_VERSION",
    "Lock",
    "NotSupported",
    "RLock",
    "Value",
    "async_split",
    "interruptably_wait",
    "interruptible_wait",
    "require_threading",
    "thread_module",
    "threading_module",
    "threading_supported",
    "with_lock",
]
