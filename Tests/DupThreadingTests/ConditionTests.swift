// Condition: wait / notify / notifyAll, timeouts, waiting on a recursively
// held lock, ownership errors, wake-up latency, and conditions bound to a
// plain Lock or to a ForeignLock.

import DupThreading
import Glibc
import Synchronization
import XCTest

final class ConditionTests: XCTestCase {
    func testDefaultConditionUsesARecursiveLock() throws {
        let cond = Condition()
        XCTAssertTrue(cond.lock is RecursiveLock)
        cond.acquire()
        cond.acquire()
        XCTAssertEqual((cond.lock as? RecursiveLock)?.recursionCount, 2)
        try cond.release()
        try cond.release()
        XCTAssertThrowsError(try cond.release()) { XCTAssertEqual($0 as? DupThreadingError, .notLocked) }
    }

    func testWaitAndNotify() throws {
        let cond = Condition()
        let flag = Box(false)
        let (t, rec) = startWaiter(cond) {
            while !flag.value { try cond.wait() }
            return .satisfied
        }
        try waitUntilWaiting(cond, rec)
        try locked(cond) {
            flag.value = true
            try cond.notify()
        }
        try join(t)
        XCTAssertNil(rec.error)
        XCTAssertEqual(rec.outcome, .satisfied)
        XCTAssertEqual(rec.heldAfter, true)
        XCTAssertEqual(rec.depthAfter, 1)
    }

    func testNotifyAllWakesEveryWaiter() throws {
        let cond = Condition()
        let go = Box(false)
        let waiters = (0..<3).map { _ in
            startWaiter(cond) {
                while !go.value { try cond.wait() }
                return .satisfied
            }
        }
        for (_, rec) in waiters { try waitUntilWaiting(cond, rec) }
        try locked(cond) {
            go.value = true
            try cond.notifyAll()
        }
        for (t, rec) in waiters {
            try join(t)
            XCTAssertEqual(rec.outcome, .satisfied)
            XCTAssertEqual(rec.heldAfter, true)
        }
    }

    func testNotifyNWakesAtLeastN() throws {
        // Each waiter consumes one ticket. notify(n) may wake more than n
        // (allowed), but never fewer: a lost wake-up leaves a waiter parked
        // and the bounded wait below fails.
        let cond = Condition()
        let tickets = Box(0)
        let done = Atomic<Int>(0)
        let waiters = (0..<3).map { _ in
            startWaiter(cond) {
                while tickets.value == 0 { try cond.wait() }
                tickets.value -= 1
                done.add(1, ordering: .releasing)
                return .satisfied
            }
        }
        for (_, rec) in waiters { try waitUntilWaiting(cond, rec) }
        try locked(cond) {
            tickets.value += 2
            try cond.notify(2)
        }
        XCTAssertTrue(waitUntil { done.load(ordering: .acquiring) == 2 })
        try locked(cond) {
            tickets.value += 1
            try cond.notify()
        }
        XCTAssertTrue(waitUntil { done.load(ordering: .acquiring) == 3 })
        for (t, _) in waiters { try join(t) }
        XCTAssertEqual(tickets.value, 0)
    }

    func testWaitTimeoutReturnsFalse() throws {
        let cond = Condition()
        cond.acquire()
        let start = nowNanos()
        XCTAssertFalse(try cond.wait(timeout: .milliseconds(50)))
        let elapsed = millisSince(start)
        XCTAssertGreaterThanOrEqual(elapsed, 45)
        XCTAssertLessThan(elapsed, 1000)
        XCTAssertEqual((cond.lock as? RecursiveLock)?.recursionCount, 1)
        // The WaitOutcome form says the same.
        XCTAssertEqual(try cond.wait(timeout: .milliseconds(10), interrupt: nil), .timedOut)
        XCTAssertEqual((cond.lock as? RecursiveLock)?.recursionCount, 1)
        try cond.release()
    }

    func testWaitWithTimeoutReturnsTrueWhenNotified() throws {
        let cond = Condition()
        let flag = Box(false)
        let (t, rec) = startWaiter(cond) {
            while !flag.value {
                guard try cond.wait(timeout: .seconds(20)) else { return .timedOut }
            }
            return .satisfied
        }
        try waitUntilWaiting(cond, rec)
        try locked(cond) {
            flag.value = true
            try cond.notify()
        }
        try join(t)
        XCTAssertEqual(rec.outcome, .satisfied)
    }

    func testNotifyZeroWakesNobody() throws {
        let cond = Condition()
        let (t, rec) = startWaiter(cond) {
            try cond.wait(timeout: .milliseconds(100)) ? .satisfied : .timedOut
        }
        try waitUntilWaiting(cond, rec)
        try locked(cond) { try cond.notify(0) }
        try join(t)
        XCTAssertEqual(rec.outcome, .timedOut)
        XCTAssertEqual(rec.heldAfter, true)
    }

    func testWaitOnRecursivelyHeldLockReleasesFullyAndRestoresDepth() throws {
        let lock = RecursiveLock()
        let cond = Condition(lock: lock)
        lock.acquire()
        lock.acquire()
        lock.acquire()
        let flag = Box(false)
        let helperGotLock = Box(false)
        // The helper can only take the lock while we are inside wait().
        let helper = TestThread {
            guard waitUntil(testDeadline, { lock.tryAcquire() }) else { return }
            helperGotLock.value = true
            flag.value = true
            try? cond.notify()
            try? lock.release()
        }
        var notified = true
        while !flag.value && notified {
            notified = try cond.wait(timeout: testDeadline)
        }
        XCTAssertTrue(notified, "wait timed out: the lock was not fully released")
        XCTAssertTrue(helperGotLock.value)
        XCTAssertEqual(lock.recursionCount, 3)
        XCTAssertTrue(lock.isOwnedByCurrentThread)
        try join(helper)
        for _ in 0..<3 { try lock.release() }
        XCTAssertFalse(lock.isLocked)
    }

    func testWaitOrNotifyWithoutHoldingTheLockThrowsNotOwner() throws {
        let cond = Condition()
        func expectNotOwner(_ what: String, _ body: () throws -> Void) {
            XCTAssertThrowsError(try body(), what) { XCTAssertEqual($0 as? DupThreadingError, .notOwner, what) }
        }
        expectNotOwner("wait()") { try cond.wait() }
        expectNotOwner("wait(timeout:)") { try cond.wait(timeout: .milliseconds(1)) }
        expectNotOwner("wait(timeout:interrupt:)") { _ = try cond.wait(timeout: nil, interrupt: nil) }
        expectNotOwner("wait(until:)") { _ = try cond.wait(until: { false }) }
        expectNotOwner("notify()") { try cond.notify() }
        expectNotOwner("notify(0)") { try cond.notify(0) }
        expectNotOwner("notifyAll()") { try cond.notifyAll() }

        // Held by another thread: still not ours.
        let holding = Atomic<Bool>(false)
        let letGo = Atomic<Bool>(false)
        let holder = TestThread {
            cond.acquire()
            holding.store(true, ordering: .releasing)
            waitUntil { letGo.load(ordering: .acquiring) }
            try? cond.release()
        }
        XCTAssertTrue(waitUntil { holding.load(ordering: .acquiring) })
        expectNotOwner("wait() while another thread holds it") { try cond.wait() }
        expectNotOwner("notify() while another thread holds it") { try cond.notify() }
        letGo.store(true, ordering: .releasing)
        try join(holder)
        XCTAssertFalse(cond.lock.isHeldByCurrentThread ?? true)
    }

    func testNotifyNegativeCountThrowsInvalidArgument() throws {
        let cond = Condition()
        cond.acquire()
        XCTAssertThrowsError(try cond.notify(-1)) { error in
            guard case .invalidArgument = error as? DupThreadingError else {
                return XCTFail("expected invalidArgument, got \(error)")
            }
        }
        try cond.release()
    }

    func testNegativeWaitTimeoutThrowsInvalidTimeout() throws {
        let cond = Condition()
        cond.acquire()
        XCTAssertThrowsError(try cond.wait(timeout: .milliseconds(-1))) { error in
            guard case .invalidTimeout = error as? DupThreadingError else {
                return XCTFail("expected invalidTimeout, got \(error)")
            }
        }
        XCTAssertEqual(cond.lock.isHeldByCurrentThread, true)
        try cond.release()
    }

    func testNotifyWakesAWaiterWithinMilliseconds() throws {
        let cond = Condition()
        let flag = Box(false)
        let (t, rec) = startWaiter(cond) {
            while !flag.value { try cond.wait() }
            return .satisfied
        }
        try waitUntilWaiting(cond, rec)
        try waitUntilParked(t)
        var notifiedAt: UInt64 = 0
        try locked(cond) {
            flag.value = true
            notifiedAt = nowNanos()
            try cond.notify()
        }
        try join(t)
        XCTAssertEqual(rec.outcome, .satisfied)
        // Typically well under a millisecond; the bound only guards against
        // a missed wake-up rescued by some periodic timer.
        XCTAssertLessThan(millisBetween(notifiedAt, rec.returnedAt), 500)
    }

    func testConditionBoundToAPlainLock() throws {
        let lock = Lock()
        let cond = Condition(lock: lock)
        XCTAssertTrue(cond.lock === lock)
        XCTAssertThrowsError(try cond.wait(timeout: .milliseconds(1))) {
            XCTAssertEqual($0 as? DupThreadingError, .notOwner)
        }

        let flag = Box(false)
        let (t, rec) = startWaiter(cond) {
            while !flag.value { try cond.wait() }
            return .satisfied
        }
        try waitUntilWaiting(cond, rec)
        try locked(cond) {
            flag.value = true
            try cond.notify()
        }
        try join(t)
        XCTAssertEqual(rec.outcome, .satisfied)
        XCTAssertEqual(rec.heldAfter, true)
        XCTAssertFalse(lock.isLocked)

        // A timed-out wait also gives the lock back.
        lock.acquire()
        XCTAssertFalse(try cond.wait(timeout: .milliseconds(5)))
        XCTAssertEqual(lock.isHeldByCurrentThread, true)
        try lock.release()
    }

    func testConditionBoundToAForeignLock() throws {
        let mutex = PthreadMutex()
        let cond = Condition(lock: mutex.foreignLock())
        XCTAssertThrowsError(try cond.notify()) { XCTAssertEqual($0 as? DupThreadingError, .notOwner) }

        let flag = Box(false)
        let (t, rec) = startWaiter(cond) {
            while !flag.value { try cond.wait() }
            return .satisfied
        }
        try waitUntilWaiting(cond, rec)
        try locked(cond) {
            flag.value = true
            try cond.notify()
        }
        try join(t)
        XCTAssertEqual(rec.outcome, .satisfied)
        XCTAssertEqual(rec.heldAfter, true)
        XCTAssertFalse(mutex.isHeldByCurrentThread)
        XCTAssertEqual(mutex.acquires.load(ordering: .relaxed), mutex.releases.load(ordering: .relaxed))
    }

    func testReinitializeAfterForkResetsTheLock() throws {
        // The lock is left held by a thread that is gone (as after fork()).
        for cond in [Condition(), Condition(lock: Lock())] {
            let depth = cond.lock is RecursiveLock ? 2 : 1
            try join(TestThread { for _ in 0..<depth { cond.acquire() } })
            XCTAssertFalse(cond.lock.isHeldByCurrentThread ?? true)
            cond.reinitializeAfterFork()
            try acquireBounded(cond)
            XCTAssertFalse(try cond.wait(timeout: .milliseconds(1)))
            XCTAssertEqual(cond.lock.isHeldByCurrentThread, true)
            try cond.release()
        }
    }

    func testForeignLockWithoutOwnershipTestIsTrusted() throws {
        // Without `isHeld` the condition cannot tell, so it does not throw
        // notOwner itself; waiting and notifying still work.
        let mutex = PthreadMutex()
        let cond = Condition(lock: mutex.foreignLock(tellsOwner: false))
        XCTAssertNil(cond.lock.isHeldByCurrentThread)
        XCTAssertNoThrow(try cond.notify())

        cond.acquire()
        XCTAssertFalse(try cond.wait(timeout: .milliseconds(5)))
        XCTAssertTrue(mutex.isHeldByCurrentThread)
        try cond.release()

        let flag = Box(false)
        let (t, rec) = startWaiter(cond) {
            while !flag.value { try cond.wait() }
            return .satisfied
        }
        try waitUntilWaiting(cond, rec)
        try locked(cond) {
            flag.value = true
            try cond.notify()
        }
        try join(t)
        XCTAssertEqual(rec.outcome, .satisfied)
    }
}
