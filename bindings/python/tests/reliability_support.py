"""Shared helpers of the reliability tests (test_reliability_*.py).

Normal runs are short (the whole reliability set in well under a minute);
DT_RELIABILITY_FULL=1 selects the long variants, which are otherwise skipped
with a reason. DT_RELIABILITY_SEED=<int> replays a randomized run (every
randomized test prints the seed it used). DT_RELIABILITY_REPORT=<path> also
appends every figure the tests print to that file, as JSON lines.

Everything here is bounded: child processes run with a timeout and are killed
when it passes.
"""

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

#: The long variants run only with DT_RELIABILITY_FULL=1.
FULL = os.environ.get("DT_RELIABILITY_FULL", "") not in ("", "0")

#: Marks a test as a long variant.
full_only = pytest.mark.skipif(
    not FULL, reason="long reliability variant: set DT_RELIABILITY_FULL=1 to run it"
)


def seed_for(name):
    """The seed of a randomized test: DT_RELIABILITY_SEED if set, else a fresh
    one. Printed, so that a failure can be replayed."""
    env = os.environ.get("DT_RELIABILITY_SEED")
    seed = int(env) if env else random.SystemRandom().randrange(1 << 31)
    print(f"\n[{name}] seed {seed} (replay with DT_RELIABILITY_SEED={seed})")
    return seed


def report(title, figures):
    """Prints measured figures (shown with `pytest -s`), and appends them to
    $DT_RELIABILITY_REPORT if set."""
    print(f"\n== {title}")
    for key, value in figures.items():
        print(f"   {key}: {value}")
    path = os.environ.get("DT_RELIABILITY_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"title": title, **figures}, default=str) + "\n")


def run_child(script, args=(), timeout=60.0, env=None):
    """Runs tests/<script> in a fresh interpreter with a timeout; returns the
    CompletedProcess. On timeout the child is killed (subprocess.run does it)
    and the test fails with whatever the child printed."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    try:
        return subprocess.run(
            [sys.executable, str(HERE / script), *map(str, args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full_env,
        )
    except subprocess.TimeoutExpired as error:
        out = error.stdout.decode(errors="replace") if isinstance(error.stdout, bytes) else error.stdout
        err = error.stderr.decode(errors="replace") if isinstance(error.stderr, bytes) else error.stderr
        pytest.fail(f"{script} still running after {timeout} s (killed)\nstdout:\n{out}\nstderr:\n{err}")


def child_json(result, script):
    """The JSON document a child printed as its last stdout line, after
    checking that it exited with status 0."""
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    data = None
    if lines:
        try:
            data = json.loads(lines[-1])
        except ValueError:
            data = None
    assert result.returncode == 0 and data is not None, (
        f"{script} exited with {result.returncode}\nstdout (tail):\n{result.stdout[-4000:]}\n"
        f"stderr (tail):\n{result.stderr[-8000:]}"
    )
    return data


def wait_child(pid, timeout):
    """Waits for a forked child with waitpid(WNOHANG) polling until `timeout`
    seconds have passed; then kills it (SIGKILL) and reaps it. Returns its exit
    code (negative: killed by that signal) and whether it had to be killed."""
    deadline = time.monotonic() + timeout
    while True:
        wpid, status = os.waitpid(pid, os.WNOHANG)
        if wpid:
            return os.waitstatus_to_exitcode(status), False
        if time.monotonic() >= deadline:
            break
        time.sleep(0.005)
    os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), True


def rss_bytes():
    """Resident set size, from /proc/self/statm."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
