"""Differential test: seeded random programs of Condition.wait(timeout),
notify(n) and notify_all, run on threading.Condition (the reference) and on
dup_threading.Condition over its native locks; per phase, the waits that
returned True and False must be the same.

A program is a fixed structure, so that its outcome depends on the program
only: in each phase the main thread has k worker threads enter wait(timeout)
one after another, in a given order, and waits until each is blocked (a count
kept under the condition's lock, then a short settling pause so that the
waiters are really parked), then makes one or two notify(n) / notify_all()
calls, each under the lock, and collects what every wait returned. A notified
wait returns True; the others time out and return False. The exact semantics
(those of threading.Condition): notify(n) wakes min(n, waiting) waiters, the
longest-waiting first, and a woken waiter is no longer waiting for the next
notify.

Every wait is bounded (the worker threads, the main thread's polling, the
joins), and the programs of both implementations run at the same time, so the
module takes a few seconds.
"""

import queue
import random
import threading
import time

import pytest
from conftest import DEADLINE

import dup_threading as dt

IMPLEMENTATIONS = {
    "threading": (threading.Lock, threading.RLock, threading.Condition),
    "dup_threading": (dt.Lock, dt.RLock, dt.Condition),
}
#: Programs that wake some but not all of their waiters in 2 to 4 phases
#: (test_the_programs_exercise_partial_wake_ups), over both kinds of lock.
SEEDS = [6, 13, 21, 24, 30]
WORKERS = 5
PHASES = 4
#: How long a wait that is not notified waits: much longer than a phase needs
#: to start its waiters and notify (a few tens of milliseconds).
WAIT_TIMEOUT = 0.5
#: The pause after the last waiter is counted, before notifying.
SETTLE = 0.02


def make_program(seed):
    """(lock kind, phases); a phase is (waiters in the order they wait, actions)."""
    rng = random.Random(seed)
    lock_kind = rng.choice(["Lock", "RLock"])
    phases = []
    for _ in range(PHASES):
        k = rng.randint(1, WORKERS)
        order = rng.sample(range(WORKERS), k)
        actions = []
        for _ in range(rng.randint(1, 2)):
            draw = rng.random()
            if draw < 0.15:
                actions.append(("notify_all",))
            elif draw < 0.3:
                actions.append(("notify", rng.randint(k, k + 2)))  # more than are waiting
            else:
                actions.append(("notify", rng.randint(0, k - 1)))  # some of them
        phases.append((order, actions))
    return lock_kind, phases


def exact_outcome(program):
    """Per phase, what each wait returns (in waiting order) under the exact semantics."""
    outcomes = []
    for order, actions in program[1]:
        waiting, woken = list(order), set()
        for action in actions:
            n = len(waiting) if action[0] == "notify_all" else min(action[1], len(waiting))
            woken.update(waiting[:n])
            del waiting[:n]
        outcomes.append([w in woken for w in order])
    return outcomes


def poll(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"harness: {what} not reached in {timeout} s")
        time.sleep(0.001)


def run(program, implementation):
    """Runs the program on a fresh condition; per phase, what each wait
    returned, in waiting order."""
    Lock, RLock, Condition = IMPLEMENTATIONS[implementation]
    lock_kind, phases = program
    cond = Condition(Lock() if lock_kind == "Lock" else RLock())
    blocked = [0]  # waiters inside wait(): changed and read under cond's lock
    returned = {}  # worker -> what its wait returned, this phase
    record = threading.Lock()
    inboxes = [queue.SimpleQueue() for _ in range(WORKERS)]

    def worker(i):
        while inboxes[i].get(timeout=DEADLINE * 3) is not None:
            with cond:
                blocked[0] += 1
                result = cond.wait(WAIT_TIMEOUT)
                blocked[0] -= 1
            with record:
                returned[i] = result

    def count_is(n):
        with cond:
            return blocked[0] == n

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(WORKERS)]
    for t in threads:
        t.start()
    outcomes = []
    try:
        for order, actions in phases:
            returned.clear()
            for count, w in enumerate(order, 1):
                inboxes[w].put("wait")
                poll(lambda: count_is(count), DEADLINE, f"{count} waiters")
            time.sleep(SETTLE)
            for name, *args in actions:
                with cond:
                    getattr(cond, name)(*args)
            poll(lambda: len(returned) == len(order), WAIT_TIMEOUT + DEADLINE, "every wait returned")
            poll(lambda: count_is(0), DEADLINE, "no waiter left")
            outcomes.append([returned[w] for w in order])
    finally:
        for inbox in inboxes:
            inbox.put(None)
        for t in threads:
            t.join(DEADLINE)
    assert not any(t.is_alive() for t in threads), "harness: a worker did not exit"
    return outcomes


@pytest.fixture(scope="module")
def runs():
    """{(seed, name): outcomes}: the reference ("threading"), threading again
    (the harness compared with itself) and the native condition, the three
    programs of a seed running at the same time."""
    names = {"threading": "threading", "threading again": "threading", "dup_threading": "dup_threading"}
    results = {}
    for seed in SEEDS:
        program = make_program(seed)
        errors = []

        def one(name, implementation):
            try:
                results[seed, name] = run(program, implementation)
            except BaseException as error:  # noqa: BLE001 - re-raised below
                errors.append(error)

        threads = [threading.Thread(target=one, args=item, daemon=True) for item in names.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join(PHASES * (WAIT_TIMEOUT + 3 * DEADLINE))
            assert not t.is_alive(), "harness: a program did not finish"
        if errors:
            raise errors[0]
    return results


def describe(seed, phase, candidate, reference):
    order, actions = make_program(seed)[1][phase]
    return (f"seed {seed} phase {phase}: waiters {order} then {actions}: "
            f"returned {candidate}, reference {reference}")


def counts(outcome):
    return outcome.count(True), outcome.count(False)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_programs_exercise_partial_wake_ups(seed):
    outcomes = exact_outcome(make_program(seed))
    assert any(True in phase and False in phase for phase in outcomes)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_reference_has_the_exact_semantics(runs, seed):
    """threading.Condition does what exact_outcome says: the harness is sound."""
    assert runs[seed, "threading"] == exact_outcome(make_program(seed))


@pytest.mark.parametrize("candidate", ["threading again", "dup_threading"])
@pytest.mark.parametrize("seed", SEEDS)
def test_as_many_waits_return_true_and_false_as_with_threading(runs, seed, candidate):
    """notify(n) wakes exactly min(n, waiting) waiters; a timed-out wait returns False."""
    reference = runs[seed, "threading"]
    mismatches = [
        describe(seed, phase, got, want)
        for phase, (got, want) in enumerate(zip(runs[seed, candidate], reference))
        if counts(got) != counts(want)
    ]
    assert not mismatches, "(True, False) counts differ:\n" + "\n".join(mismatches)


@pytest.mark.parametrize("candidate", ["threading again", "dup_threading"])
@pytest.mark.parametrize("seed", SEEDS)
def test_the_longest_waiting_are_woken_first_as_with_threading(runs, seed, candidate):
    reference = runs[seed, "threading"]
    mismatches = [
        describe(seed, phase, got, want)
        for phase, (got, want) in enumerate(zip(runs[seed, candidate], reference))
        if got != want
    ]
    assert not mismatches, "the waits woken differ:\n" + "\n".join(mismatches)
