// Misuse of the Swift API not covered by the per-type tests (docs/misuse.md):
// huge timeouts and counts, releases by a thread that does not hold the
// condition's lock, dropping held locks, and a recursion depth restored at Int.max.

import DupThreading
import Glibc
import Synchronization
import XCTest

final class MisuseTests: XCTestCase {
    /// The largest `Duration` saturates to "no limit" instead of overflowing.
    func testHugeTimeoutsSaturate() throws {
        let huge = Duration.seconds(Int64.max)
        let lock = Lock()
        XCTAssertEqual(try lock.acquire(timeout: huge), .satisfied)
        try lock.release()
        let rlock = RecursiveLock()
        XCTAssertEqual(try rlock.acquire(timeout: huge), .satisfied)
        try rlock.release()
        let (waiter, caller) = asyncSplit { 7 }
        try caller()
        XCTAssertEqual(try waiter.waitForResult(timeout: huge, interrupt: nil).get(), 7)

        let cond = Condition()
        let flag = Box(false)
        let (t, rec) = startWaiter(cond) { try cond.wait(until: { flag.value }, timeout: huge) }
        try waitUntilWaiting(cond, rec)
        try locked(cond) {
            flag.value = true
            try cond.notify()
        }
        try join(t)
        XCTAssertNil(rec.error)
        XCTAssertEqual(rec.outcome, .satisfied)
    }

    /// notify(Int.max) is "everyone", not an overflow.
    func testNotifyWithAHugeCountWakesEveryWaiter() throws {
        let cond = Condition()
        let go = Box(false)
        let waiters = (0..<3).map { _ in
            startWaiter(cond) { try cond.wait(until: { go.value }, timeout: testDeadline) }
        }
        for (_, rec) in waiters { try waitUntilWaiting(cond, rec) }
        try locked(cond) {
            go.value = true
            try cond.notify(Int.max)
        }
        for (t, rec) in waiters {
            try join(t)
            XCTAssertEqual(rec.outcome, .satisfied)
        }
    }

    /// Releasing a condition's lock that another thread holds is refused.
    func testConditionReleaseByANonOwnerThrowsNotOwner() throws {
        for cond in [Condition(), Condition(lock: Lock())] {
            let holding = Atomic<Bool>(false)
            let letGo = Atomic<Bool>(false)
            let holder = TestThread {
                cond.acquire()
                holding.store(true, ordering: .releasing)
                waitUntil { letGo.load(ordering: .acquiring) }
                try? cond.release()
            }
            XCTAssertTrue(waitUntil { holding.load(ordering: .acquiring) })
            XCTAssertThrowsError(try cond.release()) { XCTAssertEqual($0 as? DupThreadingError, .notOwner) }
            letGo.store(true, ordering: .releasing)
            try join(holder)
            XCTAssertThrowsError(try cond.release()) { XCTAssertEqual($0 as? DupThreadingError, .notLocked) }
        }
    }

    /// A wait whose Lock another thread keeps releasing (releaseFromAnyThread)
    /// throws only notOwner, as documented (it used to throw notLocked when
    /// the release came between its ownership check and its own release).
    func testWaitWhoseLockAnotherThreadReleasesThrowsOnlyNotOwner() throws {
        let lock = Lock()
        let cond = Condition(lock: lock)
        let stop = Atomic<Bool>(false)
        let thief = TestThread {
            while !stop.load(ordering: .relaxed) { try? lock.releaseFromAnyThread() }
        }
        var others = 0
        var firstOther: DupThreadingError?
        var waits = 0
        let end = nowNanos() + 1_000_000_000
        while nowNanos() < end {
            guard lock.tryAcquire() else { continue }
            do {
                _ = try cond.wait(timeout: .zero, interrupt: nil)
                waits += 1
            } catch .notOwner {
            } catch {
                others += 1
                if firstOther == nil { firstOther = error }
            }
        }
        stop.store(true, ordering: .relaxed)
        try join(thief)
        XCTAssertEqual(others, 0, "first undocumented error: \(String(describing: firstOther))")
        XCTAssertGreaterThan(waits, 0)
    }

    /// Dropping a lock, a Value or a condition while it is held is allowed
    /// (nobody waits on it): no error, no crash.
    func testDroppingHeldLocksIsAllowed() {
        do {
            let lock = Lock()
            lock.acquire()
            let rlock = RecursiveLock()
            rlock.acquire()
            rlock.acquire()
            let value = Value([1, 2, 3])
            value.acquire()
            let cond = Condition()
            cond.acquire()
            XCTAssertTrue(lock.isLocked && rlock.isLocked && value.isLocked && cond.lock.isHeldByCurrentThread == true)
        }
    }

    /// A depth restored at Int.max saturates on the next acquire instead of
    /// wrapping (the release after a wrapped depth used to trap).
    func testRecursionDepthSaturatesAtIntMax() throws {
        let lock = RecursiveLock()
        lock.acquire()
        _ = try lock.releaseForWait()
        lock.restoreAfterWait(LockSavedState(recursionCount: .max))
        lock.acquire()
        XCTAssertTrue(lock.tryAcquire())
        XCTAssertEqual(try lock.acquire(timeout: .zero), .satisfied)
        XCTAssertEqual(lock.recursionCount, .max)
        try lock.release()
        XCTAssertEqual(lock.recursionCount, .max - 1)
        XCTAssertEqual(try lock.releaseForWait().recursionCount, .max - 1)
        XCTAssertFalse(lock.isLocked)
    }
}
