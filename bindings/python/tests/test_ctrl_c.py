"""Ctrl-C (SIGINT) ends every blocking wait of the main thread within 50 ms,
leaving locks consistent. Measured in a child process (ctrl_c_child.py)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

LIMIT = 0.050  # seconds from the signal to the KeyboardInterrupt
CHILD = Path(__file__).with_name("ctrl_c_child.py")

WAITS = [
    "waiter()",
    "waiter(timeout=60)",
    "waiter() via os.kill",
    "interruptably_wait(dt.Condition)",
    "interruptably_wait(threading.Condition)",
    "Lock.acquire()",
    "RLock.acquire()",
    "Lock.acquire() self-deadlock",
    "Condition(RLock).wait()",
    "Condition(RLock).wait_for()",
    "Condition(Lock).wait()",
    "Condition(Lock).wait_for()",
    "Value.get()",
    "Value.set()",
    "Value.transform()",
    "Value.acquire()",
    "Value.with_lock()",
    "with_lock(Lock)",
]


@pytest.fixture(scope="module")
def latencies():
    result = subprocess.run([sys.executable, str(CHILD)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    # Shown with `pytest -s`: the measured numbers.
    for name in WAITS:
        value = data.get(name)
        shown = f"{value * 1000:.2f} ms" if isinstance(value, float) else value
        print(f"  Ctrl-C latency {name:42s} {shown}")
    return data


@pytest.mark.parametrize("wait", WAITS)
def test_sigint_interrupts_within_50_ms(latencies, wait):
    latency = latencies[wait]
    assert isinstance(latency, float), f"{wait}: {latency}"
    assert latency < LIMIT, f"{wait}: KeyboardInterrupt after {latency * 1000:.1f} ms"


@pytest.mark.parametrize("wait", WAITS)
def test_locks_consistent_after_interrupt(latencies, wait):
    assert latencies[wait + " [after]"] == "ok"


def test_non_raising_signal_handler_does_not_end_the_wait(latencies):
    assert latencies["non-raising handler"] == ["finished", 1]
