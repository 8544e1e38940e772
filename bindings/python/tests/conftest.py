"""Shared helpers. Every wait in these tests is bounded: threads are daemons
joined with a deadline, child processes run with a timeout, and a watchdog
(faulthandler, no plugin needed) ends the run with every thread's traceback if
a test blocks for longer than TEST_TIMEOUT, e.g. in a deadlock."""

import faulthandler
import os
import subprocess
import sys
import textwrap
import threading

import pytest

#: Upper bound for anything that should happen "soon" (generous for a loaded 2-core CI box).
DEADLINE = 10.0
#: No single test may take longer than this.
TEST_TIMEOUT = 180.0


@pytest.fixture(autouse=True)
def watchdog(request):
    """Ends the run, showing where every thread is, if the test hangs."""
    capture = request.config.pluginmanager.getplugin("capturemanager")

    def expire():
        if capture is not None:
            capture.suspend_global_capture(in_=True)  # so the dump reaches the terminal
        sys.stderr.write(f"\n{request.node.nodeid} still running after {TEST_TIMEOUT} s; threads:\n")
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        sys.stderr.flush()
        os._exit(1)

    timer = threading.Timer(TEST_TIMEOUT, expire)
    timer.daemon = True
    timer.start()
    # Backstop that needs no GIL (its output may be captured, but the run ends).
    faulthandler.dump_traceback_later(TEST_TIMEOUT + 30, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()
    timer.cancel()


def start(fn, *args):
    """Runs fn(*args) on a daemon thread; returns the thread. Exceptions are kept in t.error."""

    def run():
        try:
            t.result = fn(*args)
        except BaseException as error:  # noqa: BLE001 - reported by join()
            t.error = error

    t = threading.Thread(target=run, daemon=True)
    t.result = t.error = None
    t.start()
    return t


def join(t, timeout=DEADLINE):
    """Joins a thread from start(), failing (not hanging) if it is still running,
    and re-raising what it raised. Returns its result."""
    t.join(timeout)
    assert not t.is_alive(), f"thread still running after {timeout} s"
    if t.error is not None:
        raise t.error
    return t.result


def run_python(code, timeout=60, **kwargs):
    """Runs code in a fresh interpreter (the one running the tests)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


@pytest.fixture
def dt():
    import dup_threading

    return dup_threading
