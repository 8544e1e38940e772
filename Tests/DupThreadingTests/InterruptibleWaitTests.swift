// interruptiblyWait / Condition.wait(until:): predicate handling, prompt
// wake-ups (no polling), timeouts, interruption by interruptWaiters() and by
// a signal (with and without SA_RESTART), and the lock being held again, at
// its full depth, on every return path.

import DupThreading
import Glibc
import Synchronization
import XCTest

final class InterruptibleWaitTests: XCTestCase {
    func testPredicateAlreadyTrueReturnsAtOnce() throws {
        let lock = RecursiveLock()
        let cond = Condition(lock: lock)
        lock.acquire()
        lock.acquire()
        var calls = 0
        let start = nowNanos()
        let outcome = try interruptiblyWait(cond) { calls += 1; return true }
        XCTAssertEqual(outcome, .satisfied)
        XCTAssertEqual(calls, 1)
        XCTAssertLessThan(millisSince(start), 500)
        XCTAssertEqual(lock.recursionCount, 2)
        try lock.release()
        try lock.release()
    }

    func testSatisfiedAfterNotify() throws {
        let cond = Condition()
        let flag = Box(false)
        let (t, rec) = startWaiter(cond, depth: 2) {
            try interruptiblyWait(cond) { flag.value }
        }
        try waitUntilWaiting(cond, rec)
        try locked(cond) {
            flag.value = true
            try cond.notify()
        }
        try join(t)
        XCTAssertEqual(rec.outcome, .satisfied)
        XCTAssertEqual(rec.depthAfter, 2)
    }

    func testNotifyWakesPromptlyWithoutPolling() throws {
        // One waiter, 20 rounds: each round it waits (parked) for `round` to
        // reach r; we bump it and notify. A 100 ms polling loop would average
        // ~50 ms per wake; a futex wake-up takes well under a millisecond.
        let rounds = 20
        let cond = Condition()
        let round = Box(0)          // guarded by cond
        let waitingFor = Box(0)     // guarded by cond
        let wokeAt = Box([UInt64](repeating: 0, count: rounds + 1))  // waiter-only until join
        let waiter = TestThread {
            for r in 1...rounds {
                cond.acquire()
                waitingFor.value = r
                let outcome = try? interruptiblyWait(cond, timeout: testDeadline) { round.value >= r }
                wokeAt.value[r] = nowNanos()
                try? cond.release()
                if outcome != .satisfied { return }
            }
        }
        var notifiedAt = [UInt64](repeating: 0, count: rounds + 1)
        for r in 1...rounds {
            guard waitUntil(testDeadline, { (try? locked(cond) { waitingFor.value == r }) ?? false }) else {
                throw TimedOut(what: "waiter reaching round \(r)")
            }
            try waitUntilParked(waiter)
            try locked(cond) {
                round.value = r
                notifiedAt[r] = nowNanos()
                try cond.notify()
            }
        }
        try join(waiter)
        let latencies = (1...rounds).map { millisBetween(notifiedAt[$0], wokeAt.value[$0]) }
        let average = latencies.reduce(0, +) / Double(rounds)
        XCTAssertLessThan(average, 20, "average wake latency \(average) ms: polling?")
        XCTAssertLessThan(latencies.max() ?? 0, 500)
        XCTAssertGreaterThanOrEqual(latencies.min() ?? -1, 0)
    }

    func testTimedOut() throws {
        let cond = Condition()
        cond.acquire()
        var calls = 0
        let start = nowNanos()
        let outcome = try interruptiblyWait(cond, timeout: .milliseconds(50)) { calls += 1; return false }
        let elapsed = millisSince(start)
        XCTAssertEqual(outcome, .timedOut)
        XCTAssertGreaterThanOrEqual(elapsed, 45)
        XCTAssertLessThan(elapsed, 1000)
        XCTAssertGreaterThanOrEqual(calls, 2, "predicate is re-checked at the deadline")
        XCTAssertEqual((cond.lock as? RecursiveLock)?.recursionCount, 1)
        try cond.release()
    }

    func testPredicateTrueAtTheDeadlineCountsAsSatisfied() throws {
        let cond = Condition()
        cond.acquire()
        var calls = 0
        let outcome = try cond.wait(until: { calls += 1; return calls > 1 }, timeout: .milliseconds(20))
        XCTAssertEqual(outcome, .satisfied)
        XCTAssertEqual(calls, 2)
        try cond.release()
    }

    func testInterruptWaitersWithoutHookInterrupts() throws {
        let cond = Condition()
        let (t, rec) = startWaiter(cond, depth: 3) {
            try interruptiblyWait(cond) { false }
        }
        try waitUntilWaiting(cond, rec)
        cond.interruptWaiters()
        try join(t)
        XCTAssertNil(rec.error)
        XCTAssertEqual(rec.outcome, .interrupted)
        XCTAssertEqual(rec.depthAfter, 3)
    }

    func testInterruptWaitersWithHookReturningTrueInterrupts() throws {
        let cond = Condition()
        let hookCalls = Atomic<Int>(0)
        let (t, rec) = startWaiter(cond) {
            try interruptiblyWait(cond, interrupt: { hookCalls.add(1, ordering: .relaxed); return true }) { false }
        }
        try waitUntilWaiting(cond, rec)
        cond.interruptWaiters()
        try join(t)
        XCTAssertEqual(rec.outcome, .interrupted)
        XCTAssertGreaterThanOrEqual(hookCalls.load(ordering: .relaxed), 1)
        XCTAssertEqual(rec.depthAfter, 1)
    }

    func testInterruptWaitersWithHookReturningFalseKeepsWaiting() throws {
        let cond = Condition()
        let flag = Box(false)
        let hookCalls = Atomic<Int>(0)
        let (t, rec) = startWaiter(cond) {
            try interruptiblyWait(cond, interrupt: { hookCalls.add(1, ordering: .releasing); return false }) {
                flag.value
            }
        }
        try waitUntilWaiting(cond, rec)
        cond.interruptWaiters()
        XCTAssertTrue(waitUntil { hookCalls.load(ordering: .acquiring) >= 1 }, "hook not consulted")
        // The hook said no: the waiter must go back to waiting.
        XCTAssertTrue(try locked(cond) { !t.isFinished })
        try locked(cond) {
            flag.value = true
            try cond.notify()
        }
        try join(t)
        XCTAssertEqual(rec.outcome, .satisfied)
        XCTAssertEqual(rec.heldAfter, true)
    }

    func testInterruptionIsNotSticky() throws {
        // interruptWaiters() disturbs current waiters only.
        let cond = Condition()
        cond.interruptWaiters()
        cond.acquire()
        XCTAssertEqual(try interruptiblyWait(cond, timeout: .milliseconds(20)) { false }, .timedOut)
        try cond.release()
    }

    func testPlainWaitWithHookIsInterruptedAndNotified() throws {
        // Condition.wait(timeout:interrupt:) on its own, without a predicate.
        let cond = Condition()
        var (t, rec) = startWaiter(cond) { try cond.wait(timeout: testDeadline, interrupt: { true }) }
        try waitUntilWaiting(cond, rec)
        cond.interruptWaiters()
        try join(t)
        XCTAssertEqual(rec.outcome, .interrupted)
        XCTAssertEqual(rec.heldAfter, true)

        (t, rec) = startWaiter(cond) { try cond.wait(timeout: testDeadline, interrupt: { true }) }
        try waitUntilWaiting(cond, rec)
        try locked(cond) { try cond.notify() }
        try join(t)
        XCTAssertEqual(rec.outcome, .satisfied)
        XCTAssertEqual(rec.heldAfter, true)
    }

    // MARK: Signals

    func testSignalInterruptsWaitWithoutSARestart() throws {
        try checkSignalInterrupts(restart: false)
    }

    func testSignalInterruptsWaitWithSARestart() throws {
        try checkSignalInterrupts(restart: true)
    }

    /// A waiter parked in interruptiblyWait gets SIGUSR1; the handler runs,
    /// the wait consults its hook, which says stop: `.interrupted` quickly,
    /// with the lock held again at its full depth.
    private func checkSignalInterrupts(restart: Bool, file: StaticString = #filePath, line: UInt = #line) throws {
        installNoOpSIGUSR1Handler(restart: restart)
        XCTAssertEqual(sigusr1HandlerHasRestart(), restart, file: file, line: line)
        let cond = Condition()
        let hookCalls = Atomic<Int>(0)
        let (t, rec) = startWaiter(cond, depth: 2) {
            try interruptiblyWait(cond, interrupt: { hookCalls.add(1, ordering: .relaxed); return true }) { false }
        }
        try waitUntilWaiting(cond, rec)
        try waitUntilParked(t)
        let sentAt = nowNanos()
        t.sendSIGUSR1()
        try join(t)
        XCTAssertNil(rec.error, file: file, line: line)
        XCTAssertEqual(rec.outcome, .interrupted, file: file, line: line)
        XCTAssertGreaterThanOrEqual(hookCalls.load(ordering: .relaxed), 1, file: file, line: line)
        XCTAssertLessThan(millisBetween(sentAt, rec.returnedAt), 100, file: file, line: line)
        XCTAssertEqual(rec.depthAfter, 2, file: file, line: line)
    }

    func testSignalWithHookReturningFalseKeepsWaiting() throws {
        installNoOpSIGUSR1Handler(restart: false)
        let cond = Condition()
        let flag = Box(false)
        let hookCalls = Atomic<Int>(0)
        let (t, rec) = startWaiter(cond) {
            try interruptiblyWait(cond, interrupt: { hookCalls.add(1, ordering: .releasing); return false }) {
                flag.value
            }
        }
        try waitUntilWaiting(cond, rec)
        try waitUntilParked(t)
        t.sendSIGUSR1()
        XCTAssertTrue(waitUntil { hookCalls.load(ordering: .acquiring) >= 1 }, "hook not consulted")
        XCTAssertTrue(try locked(cond) { !t.isFinished })
        try locked(cond) {
            flag.value = true
            try cond.notify()
        }
        try join(t)
        XCTAssertEqual(rec.outcome, .satisfied)
        XCTAssertEqual(rec.heldAfter, true)
    }

    func testSignalWithoutHookKeepsWaiting() throws {
        installNoOpSIGUSR1Handler(restart: true)
        let cond = Condition()
        let flag = Box(false)
        let (t, rec) = startWaiter(cond) {
            try interruptiblyWait(cond) { flag.value }
        }
        try waitUntilWaiting(cond, rec)
        try waitUntilParked(t)
        t.sendSIGUSR1()
        // No hook: nothing to ask, so the wait carries on (briefly checked).
        XCTAssertFalse(waitUntil(.milliseconds(50)) { t.isFinished })
        try locked(cond) {
            flag.value = true
            try cond.notify()
        }
        try join(t)
        XCTAssertEqual(rec.outcome, .satisfied)
    }

    // MARK: Errors

    func testThrowingPredicateRethrowsAndKeepsTheLock() throws {
        let lock = RecursiveLock()
        let cond = Condition(lock: lock)
        lock.acquire()
        lock.acquire()
        // Throws on the first check, before any waiting.
        XCTAssertThrowsError(try interruptiblyWait(cond) { throw TestError(code: 7) }) {
            XCTAssertEqual($0 as? TestError, TestError(code: 7))
        }
        XCTAssertEqual(lock.recursionCount, 2)
        try lock.release()
        try lock.release()

        // Throws after a wait, on the re-check that follows a notify.
        let armed = Box(false)
        let (t, rec) = startWaiter(cond, depth: 2) {
            try interruptiblyWait(cond) {
                if armed.value { throw TestError(code: 8) }
                return false
            }
        }
        try waitUntilWaiting(cond, rec)
        try locked(cond) {
            armed.value = true
            try cond.notify()
        }
        try join(t)
        XCTAssertEqual(rec.error as? TestError, TestError(code: 8))
        XCTAssertNil(rec.outcome)
        XCTAssertEqual(rec.depthAfter, 2)
        XCTAssertFalse(lock.isLocked)
    }

    func testMisuseErrors() throws {
        let cond = Condition()
        XCTAssertThrowsError(try interruptiblyWait(cond) { true }) {
            XCTAssertEqual($0 as? DupThreadingError, .notOwner)
        }
        cond.acquire()
        XCTAssertThrowsError(try interruptiblyWait(cond, timeout: .seconds(-1)) { true }) { error in
            guard case .invalidTimeout = error as? DupThreadingError else {
                return XCTFail("expected invalidTimeout, got \(error)")
            }
        }
        XCTAssertEqual(cond.lock.isHeldByCurrentThread, true)
        try cond.release()
    }

    func testInterruptionWithAPlainLockRestoresIt() throws {
        let lock = Lock()
        let cond = Condition(lock: lock)
        let (t, rec) = startWaiter(cond) {
            try interruptiblyWait(cond) { false }
        }
        try waitUntilWaiting(cond, rec)
        cond.interruptWaiters()
        try join(t)
        XCTAssertEqual(rec.outcome, .interrupted)
        XCTAssertEqual(rec.heldAfter, true)
        XCTAssertFalse(lock.isLocked)
    }
}
