// RecursiveLock: nesting and depth bookkeeping, ownership errors, timed
// acquires against another holder, mutual exclusion, reset after fork.

import DupThreading
import Glibc
import Synchronization
import XCTest

final class RecursiveLockTests: XCTestCase {
    func testNestingAndRecursionCount() throws {
        let lock = RecursiveLock()
        XCTAssertFalse(lock.isLocked)
        XCTAssertFalse(lock.isOwnedByCurrentThread)
        XCTAssertEqual(lock.recursionCount, 0)

        lock.acquire()
        XCTAssertTrue(lock.tryAcquire())
        XCTAssertEqual(try lock.acquire(timeout: .zero), .satisfied)
        XCTAssertEqual(lock.recursionCount, 3)
        XCTAssertTrue(lock.isOwnedByCurrentThread)
        XCTAssertEqual(lock.isHeldByCurrentThread, true)
        XCTAssertTrue(lock.isLocked)

        try lock.release()
        XCTAssertEqual(lock.recursionCount, 2)
        try lock.release()
        XCTAssertEqual(lock.recursionCount, 1)
        XCTAssertTrue(lock.isLocked)
        try lock.release()
        XCTAssertEqual(lock.recursionCount, 0)
        XCTAssertFalse(lock.isLocked)
        XCTAssertFalse(lock.isOwnedByCurrentThread)

        // One release too many.
        XCTAssertThrowsError(try lock.release()) { XCTAssertEqual($0 as? DupThreadingError, .notLocked) }
    }

    func testOtherThreadViewWhileHeld() throws {
        let lock = RecursiveLock()
        lock.acquire()
        lock.acquire()
        let seen = Box<(owned: Bool, count: Int, held: Bool?, tried: Bool, error: DupThreadingError?)>(
            (true, -1, nil, true, nil))
        assertJoins(TestThread {
            var releaseError: DupThreadingError?
            do { try lock.release() } catch { releaseError = error as? DupThreadingError }
            seen.value = (lock.isOwnedByCurrentThread, lock.recursionCount,
                          lock.isHeldByCurrentThread, lock.tryAcquire(), releaseError)
        })
        XCTAssertFalse(seen.value.owned)
        XCTAssertEqual(seen.value.count, 0)
        XCTAssertEqual(seen.value.held, false)
        XCTAssertFalse(seen.value.tried)
        XCTAssertEqual(seen.value.error, .notOwner)
        // The failed release and try changed nothing.
        XCTAssertEqual(lock.recursionCount, 2)
        try lock.release()
        try lock.release()
        XCTAssertFalse(lock.isLocked)
    }

    func testPartialReleaseKeepsItHeld() throws {
        let lock = RecursiveLock()
        lock.acquire()
        lock.acquire()
        try lock.release()
        let tried = Box(true)
        assertJoins(TestThread { tried.value = lock.tryAcquire() })
        XCTAssertFalse(tried.value, "depth 1 left: still held")
        try lock.release()
        assertJoins(TestThread {
            tried.value = lock.tryAcquire()
            if tried.value { try? lock.release() }
        })
        XCTAssertTrue(tried.value, "fully released: free for others")
    }

    func testTimedAcquireFromAnotherThreadTimesOutWhileHeld() throws {
        let lock = RecursiveLock()
        lock.acquire()
        lock.acquire()
        let result = Box<(WaitOutcome?, Double, Int)>((nil, 0, -1))
        assertJoins(TestThread {
            let start = nowNanos()
            let outcome = try? lock.acquire(timeout: .milliseconds(50))
            result.value = (outcome, millisSince(start), lock.recursionCount)
        })
        XCTAssertEqual(result.value.0, .timedOut)
        XCTAssertGreaterThanOrEqual(result.value.1, 45)
        XCTAssertLessThan(result.value.1, 1000)
        XCTAssertEqual(result.value.2, 0)
        XCTAssertEqual(lock.recursionCount, 2)
        try lock.release()
        try lock.release()
    }

    func testTimedAcquireSucceedsAfterFullRelease() throws {
        let lock = RecursiveLock()
        lock.acquire()
        lock.acquire()
        let result = Box<(WaitOutcome?, Int)>((nil, -1))
        let t = TestThread {
            let outcome = try? lock.acquire(timeout: .seconds(20))
            result.value = (outcome, lock.recursionCount)
            try? lock.release()
        }
        t.waitUntilSleeping()
        try lock.release()
        // Depth 1 left: still ours, so the other thread cannot have it yet.
        XCTAssertTrue(lock.isOwnedByCurrentThread)
        XCTAssertFalse(t.isFinished, "got the lock while we still held it")
        try lock.release()
        assertJoins(t)
        XCTAssertEqual(result.value.0, .satisfied)
        XCTAssertEqual(result.value.1, 1)
        XCTAssertFalse(lock.isLocked)
    }

    func testNegativeTimeoutThrowsInvalidTimeout() throws {
        let lock = RecursiveLock()
        // Free, and then already held by the caller: validated either way.
        for _ in 0..<2 {
            XCTAssertThrowsError(try lock.acquire(timeout: .milliseconds(-5))) { error in
                guard case .invalidTimeout = error as? DupThreadingError else {
                    return XCTFail("expected invalidTimeout, got \(error)")
                }
            }
            if !lock.isOwnedByCurrentThread { lock.acquire() }
        }
        XCTAssertEqual(lock.recursionCount, 1)
        try lock.release()
        XCTAssertFalse(lock.isLocked)
    }

    func testMutualExclusionWithNestedAcquires() {
        let lock = RecursiveLock()
        let counter = Box(0)
        let threads = 4, rounds = 10_000
        XCTAssertTrue(runThreads(threads) { _ in
            for _ in 0..<rounds {
                lock.acquire()
                lock.acquire()  // nested: must not deadlock nor release early
                counter.value += 1
                try? lock.release()
                counter.value += 1
                try? lock.release()
            }
        })
        XCTAssertEqual(counter.value, 2 * threads * rounds)
        XCTAssertFalse(lock.isLocked)
    }

    func testReinitializeAfterFork() throws {
        let lock = RecursiveLock()
        // Held three deep by a thread that then ends.
        assertJoins(TestThread { lock.acquire(); lock.acquire(); lock.acquire() })
        XCTAssertTrue(lock.isLocked)
        lock.reinitializeAfterFork()
        XCTAssertFalse(lock.isLocked)
        XCTAssertEqual(lock.recursionCount, 0)
        XCTAssertTrue(lock.tryAcquire())
        XCTAssertEqual(lock.recursionCount, 1)
        try lock.release()
        XCTAssertFalse(lock.isLocked)
    }
}
