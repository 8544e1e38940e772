// Lock: the non-reentrant futex lock. Ownership errors, timeouts, hand-off
// release, mutual exclusion under contention, reset after fork.

import DupThreading
import Glibc
import Synchronization
import XCTest

final class LockTests: XCTestCase {
    func testAcquireTryAcquireRelease() throws {
        let lock = Lock()
        XCTAssertFalse(lock.isLocked)
        XCTAssertEqual(lock.isHeldByCurrentThread, false)

        lock.acquire()
        XCTAssertTrue(lock.isLocked)
        XCTAssertEqual(lock.isHeldByCurrentThread, true)
        // Not reentrant: a second try by the holder fails without blocking.
        XCTAssertFalse(lock.tryAcquire())
        try lock.release()
        XCTAssertFalse(lock.isLocked)
        XCTAssertEqual(lock.isHeldByCurrentThread, false)

        XCTAssertTrue(lock.tryAcquire())
        XCTAssertEqual(lock.isHeldByCurrentThread, true)
        try lock.release()
        XCTAssertFalse(lock.isLocked)
    }

    func testOtherThreadSeesLockHeld() throws {
        let lock = Lock()
        lock.acquire()
        let seen = Box<(tried: Bool, heldByMe: Bool?, locked: Bool)>((true, nil, false))
        let t = TestThread {
            seen.value = (lock.tryAcquire(), lock.isHeldByCurrentThread, lock.isLocked)
        }
        assertJoins(t)
        XCTAssertFalse(seen.value.tried)
        XCTAssertEqual(seen.value.heldByMe, false)
        XCTAssertTrue(seen.value.locked)
        try lock.release()
    }

    func testTimedAcquireTimesOutWhileHeldByAnotherThread() throws {
        let lock = Lock()
        lock.acquire()
        let result = Box<(WaitOutcome?, Double)>((nil, 0))
        let t = TestThread {
            let start = nowNanos()
            let outcome = try? lock.acquire(timeout: .milliseconds(50))
            result.value = (outcome, millisSince(start))
        }
        assertJoins(t)
        XCTAssertEqual(result.value.0, .timedOut)
        XCTAssertGreaterThanOrEqual(result.value.1, 45)
        XCTAssertLessThan(result.value.1, 1000)
        // Still ours after the other thread gave up.
        XCTAssertEqual(lock.isHeldByCurrentThread, true)
        try lock.release()
    }

    func testTimedAcquireBySameThreadTimesOut() throws {
        // Documented: re-acquiring a held Lock blocks (it is not reentrant).
        let lock = Lock()
        lock.acquire()
        let start = nowNanos()
        XCTAssertEqual(try lock.acquire(timeout: .milliseconds(50)), .timedOut)
        let elapsed = millisSince(start)
        XCTAssertGreaterThanOrEqual(elapsed, 45)
        XCTAssertLessThan(elapsed, 1000)
        try lock.release()
    }

    func testTimedAcquireSucceedsWhenReleased() throws {
        let lock = Lock()
        XCTAssertEqual(try lock.acquire(timeout: .milliseconds(50)), .satisfied)
        XCTAssertEqual(lock.isHeldByCurrentThread, true)

        // Another thread waits with a long timeout; it gets the lock as soon
        // as we release, long before the timeout.
        let waiting = Atomic<Bool>(false)
        let result = Box<(WaitOutcome?, Bool?, UInt64)>((nil, nil, 0))
        let t = TestThread {
            waiting.store(true, ordering: .releasing)
            let outcome = try? lock.acquire(timeout: .seconds(20))
            result.value = (outcome, lock.isHeldByCurrentThread, nowNanos())
            try? lock.release()
        }
        XCTAssertTrue(waitUntil { waiting.load(ordering: .acquiring) })
        t.waitUntilSleeping()
        let released = nowNanos()
        try lock.release()
        assertJoins(t)
        XCTAssertEqual(result.value.0, .satisfied)
        XCTAssertEqual(result.value.1, true)
        XCTAssertLessThan(millisBetween(released, result.value.2), 500)
        XCTAssertFalse(lock.isLocked)
    }

    func testZeroTimeout() throws {
        let lock = Lock()
        XCTAssertEqual(try lock.acquire(timeout: .zero), .satisfied)
        let start = nowNanos()
        XCTAssertEqual(try lock.acquire(timeout: .zero), .timedOut)
        XCTAssertLessThan(millisSince(start), 500)
        try lock.release()
    }

    func testNegativeTimeoutThrowsInvalidTimeout() throws {
        let lock = Lock()
        // Free lock: the timeout is still validated, and the lock not taken.
        XCTAssertThrowsError(try lock.acquire(timeout: .milliseconds(-1))) { error in
            guard case .invalidTimeout = error as? DupThreadingError else {
                return XCTFail("expected invalidTimeout, got \(error)")
            }
        }
        XCTAssertFalse(lock.isLocked)
        // Held lock. (tryAcquire, not acquire: if the check above failed and
        // took the lock, a blocking acquire here would hang the test.)
        XCTAssertTrue(lock.tryAcquire() || lock.isHeldByCurrentThread == true)
        XCTAssertThrowsError(try lock.acquire(timeout: .seconds(-2))) { error in
            guard case .invalidTimeout = error as? DupThreadingError else {
                return XCTFail("expected invalidTimeout, got \(error)")
            }
        }
        try lock.release()
    }

    func testReleaseOfUnlockedLockThrowsNotLocked() {
        let lock = Lock()
        XCTAssertThrowsError(try lock.release()) { XCTAssertEqual($0 as? DupThreadingError, .notLocked) }
        XCTAssertThrowsError(try lock.releaseFromAnyThread()) {
            XCTAssertEqual($0 as? DupThreadingError, .notLocked)
        }
        // Double release.
        lock.acquire()
        XCTAssertNoThrow(try lock.release())
        XCTAssertThrowsError(try lock.release()) { XCTAssertEqual($0 as? DupThreadingError, .notLocked) }
    }

    func testReleaseByAnotherThreadThrowsNotOwner() throws {
        let lock = Lock()
        lock.acquire()
        let caught = Box<DupThreadingError?>(nil)
        let t = TestThread {
            do { try lock.release() } catch { caught.value = error as? DupThreadingError }
        }
        assertJoins(t)
        XCTAssertEqual(caught.value, .notOwner)
        // The failed release changed nothing.
        XCTAssertTrue(lock.isLocked)
        XCTAssertEqual(lock.isHeldByCurrentThread, true)
        try lock.release()
    }

    func testReleaseFromAnyThread() throws {
        let lock = Lock()
        lock.acquire()
        let caught = Box<(any Error)?>(nil)
        let t = TestThread {
            do { try lock.releaseFromAnyThread() } catch { caught.value = error }
        }
        assertJoins(t)
        XCTAssertNil(caught.value)
        XCTAssertFalse(lock.isLocked)
        XCTAssertEqual(lock.isHeldByCurrentThread, false)
        XCTAssertTrue(lock.tryAcquire())
        try lock.releaseFromAnyThread()  // also fine from the holder
        XCTAssertFalse(lock.isLocked)
    }

    func testHandOffWakesABlockedAcquirer() throws {
        // Python-style hand-off: a third thread releases the lock that a
        // blocked thread is waiting for.
        let lock = Lock()
        lock.acquire()
        let got = Atomic<Bool>(false)
        let heldByWaiter = Box<Bool?>(nil)
        let waiter = TestThread {
            lock.acquire()
            heldByWaiter.value = lock.isHeldByCurrentThread
            got.store(true, ordering: .releasing)
            try? lock.release()
        }
        waiter.waitUntilSleeping()
        XCTAssertFalse(got.load(ordering: .acquiring))
        let releaser = TestThread { try? lock.releaseFromAnyThread() }
        assertJoins(releaser)
        assertJoins(waiter)
        XCTAssertTrue(got.load(ordering: .acquiring))
        XCTAssertEqual(heldByWaiter.value, true)
        XCTAssertFalse(lock.isLocked)
    }

    func testMutualExclusionUnderContention() {
        // Non-atomic counter: an exact total (and a clean thread-sanitizer
        // run) shows the lock excludes and orders memory.
        let lock = Lock()
        let counter = Box(0)
        let threads = 4, rounds = 20_000
        XCTAssertTrue(runThreads(threads) { i in
            for r in 0..<rounds {
                switch (i + r) % 3 {
                case 0:
                    lock.acquire()
                case 1:
                    while !lock.tryAcquire() { sched_yield() }
                default:
                    _ = try? lock.acquire(timeout: .seconds(30))
                }
                counter.value += 1
                try? lock.release()
            }
        })
        XCTAssertEqual(counter.value, threads * rounds)
        XCTAssertFalse(lock.isLocked)
    }

    func testInterruptHookEndsAcquireOnSignal() throws {
        installNoOpSIGUSR1Handler(restart: false)
        let lock = Lock()
        lock.acquire()
        let result = Box<(WaitOutcome?, Bool?, UInt64)>((nil, nil, 0))
        let t = TestThread {
            let outcome = try? lock.acquire(timeout: nil, interrupt: { true })
            result.value = (outcome, lock.isHeldByCurrentThread, nowNanos())
        }
        XCTAssertTrue(t.waitUntilSleeping())
        let sent = nowNanos()
        t.sendSIGUSR1()
        assertJoins(t)
        XCTAssertEqual(result.value.0, .interrupted)
        XCTAssertEqual(result.value.1, false)
        XCTAssertLessThan(millisBetween(sent, result.value.2), 100)
        XCTAssertEqual(lock.isHeldByCurrentThread, true)
        try lock.release()
    }

    func testReinitializeAfterForkResetsAHeldLock() throws {
        let lock = Lock()
        // Held by a thread that then ends (as if it did not survive a fork).
        assertJoins(TestThread { lock.acquire() })
        XCTAssertTrue(lock.isLocked)
        lock.reinitializeAfterFork()
        XCTAssertFalse(lock.isLocked)
        XCTAssertEqual(lock.isHeldByCurrentThread, false)
        XCTAssertTrue(lock.tryAcquire())
        try lock.release()
    }

    func testReinitializeAfterForkInARealChild() throws {
        // Another thread holds the lock across fork(); the child resets it
        // and can take it. The child uses only atomics and _exit.
        let lock = Lock()
        let holding = Atomic<Bool>(false)
        let letGo = Atomic<Bool>(false)
        let holder = TestThread {
            lock.acquire()
            holding.store(true, ordering: .releasing)
            waitUntil { letGo.load(ordering: .acquiring) }
            try? lock.release()
        }
        XCTAssertTrue(waitUntil { holding.load(ordering: .acquiring) })
        let pid = fork()
        if pid == 0 {
            let ok = lock.isLocked && !lock.tryAcquire()
            lock.reinitializeAfterFork()
            let ok2 = !lock.isLocked && lock.tryAcquire() && (try? lock.release()) != nil
            _exit(ok && ok2 ? 0 : 1)
        }
        letGo.store(true, ordering: .releasing)
        assertJoins(holder)
        XCTAssertGreaterThan(pid, 0)
        var status: Int32 = 0
        let reaped = waitUntil { waitpid(pid, &status, WNOHANG) == pid }
        XCTAssertTrue(reaped, "child did not exit")
        if !reaped { kill(pid, SIGKILL); waitpid(pid, &status, 0) }
        // WIFEXITED && WEXITSTATUS == 0, by hand (the macros are not imported).
        XCTAssertEqual(status & 0x7f, 0, "child killed by a signal")
        XCTAssertEqual((status >> 8) & 0xff, 0, "child failed")
    }

    // An undisturbed wait with a hook consults it shortly after parking (to
    // catch a signal that landed just before), then only every two seconds.
    func testHookIsFirstConsultedShortlyAfterParking() throws {
        let lock = Lock()
        lock.acquire()
        let start = nowNanos()
        let calls = Box<[UInt64]>([])
        let outcome = try lock.acquire(timeout: .milliseconds(500)) {
            calls.value.append(nowNanos() - start)
            return false
        }
        XCTAssertEqual(outcome, .timedOut)
        XCTAssertEqual(calls.value.count, 1, "consulted once in 500 ms: at the first check only")
        if let first = calls.value.first {
            XCTAssertGreaterThanOrEqual(first, 20_000_000)
            XCTAssertLessThan(first, 400_000_000)
        }
        try lock.release()
    }
}
