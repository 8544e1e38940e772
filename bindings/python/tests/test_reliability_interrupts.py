"""KeyboardInterrupt injected at random points leaves every lock consistent.

Runs reliability_interrupt_child.py (see its docstring for the method) in a
fresh interpreter: for a fixed time, the main thread makes blocking calls of
every kind (Value.get/set/transform/acquire on a held Value, Lock.acquire,
RLock.acquire, Condition.wait / wait_for, interruptably_wait on a native and a
threading.Condition, waiter(), with_lock) and runs pure Python code full of
non-blocking calls, while an injector thread sends SIGINT at seeded random
moments. After each interrupt the child checks the locks, the Value and the
helper threads, and a later acquire with a timeout.

Normal run: one child for 10 s (about 600 interrupts). DT_RELIABILITY_FULL=1: four more children,
100 s each, with other seeds.
"""

import json

import pytest
from reliability_support import child_json, full_only, report, run_child, seed_for

CHILD = "reliability_interrupt_child.py"
PYTHON = "python code (nothing blocks)"


def run(seed, seconds, minimum):
    result = run_child(CHILD, [seed, seconds], timeout=seconds + 60)
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    try:
        data = json.loads(lines[-1])
    except (IndexError, ValueError):
        data = child_json(result, CHILD)  # fails, showing the child's output (a hang: every thread's stack)
    failure = data.get("failure")
    if failure:
        pytest.fail(
            f"seed {seed}: {failure['scenario']}: {failure['message']}\n"
            f"(window {failure.get('window')})\ninterrupt:\n{failure.get('interrupt')}\n"
            f"check:\n{failure['traceback']}"
        )
    assert result.returncode == 0, result.stderr[-8000:]
    per = data["per_scenario"]
    classes = data["classes"]
    report(
        f"KeyboardInterrupt injection (seed {seed}, {data['seconds']} s)",
        {
            "windows": data["windows"],
            "SIGINTs sent": f"{data['sent']} ({data['methods']['pthread_kill']} pthread_kill to the main thread, "
            f"{data['methods']['os.kill']} os.kill to the process)",
            "KeyboardInterrupts received": data["received"],
            "raised inside a blocking call": classes["native"],
            "raised in Python code run by a call (transform fn, predicate, with_lock fn)": classes["callback"],
            "landed just after a call completed": classes["after"],
            "landed in Python code between calls (nothing blocked)": classes["python"],
            "windows without an interrupt": classes["none"],
            "blocking calls covered": sum(1 for name in per if name != PYTHON),
            "latency signal -> KeyboardInterrupt (blocked calls)": f"median {data['latency_ms']['median']} ms, "
            f"max {data['latency_ms']['max']} ms over {data['latency_ms']['n']}",
            "blocked calls interrupted after more than 100 ms": f"{data['latency_ms']['over_100ms']} "
            f"{data['latency_ms']['slow']}",
            "CPython threading.Condition.wait windows tolerated": data["stats"]["cpython threading.Condition windows"],
            "inconsistencies found": 0,
        },
    )
    assert data["received"] == data["sent"], "a SIGINT was sent but its KeyboardInterrupt never came"
    # A signal that lands between the last check and the park is seen at the
    # library's next safety wake-up (every 2 s): never later than that.
    assert (data["latency_ms"]["max"] or 0) < 5000, f"a blocked call ended {data['latency_ms']['max']} ms after its SIGINT"
    assert data["sent"] >= minimum, f"only {data['sent']} interrupts injected (want >= {minimum}): machine too slow?"
    for name, counts in per.items():
        if name == PYTHON:
            assert counts["python"] >= 1, "no interrupt landed in plain Python code"
        else:
            assert counts["native"] + counts["callback"] >= 1, f"{name}: never interrupted while blocked"
    return data


def test_random_keyboard_interrupts_leave_locks_consistent():
    run(seed_for("KeyboardInterrupt injection"), seconds=10, minimum=150)


@full_only
@pytest.mark.parametrize("round_", range(4))
def test_random_keyboard_interrupts_leave_locks_consistent_full(round_):
    run(seed_for(f"KeyboardInterrupt injection, long round {round_}"), seconds=100, minimum=1500)
