// asyncSplit: the caller / waiter halves. Results and errors reach every
// waiter on every thread; the function runs exactly once; waits can time
// out or be interrupted; the state can be inspected without blocking.

import DupThreading
import Glibc
import Synchronization
import XCTest

final class AsyncSplitTests: XCTestCase {
    func testCallerReturnsSuccessAndWaiterTheResult() throws {
        let (waiter, caller) = asyncSplit { 42 }
        XCTAssertFalse(waiter.isDone)
        XCTAssertNil(waiter.finishedOutcome())
        let (success, returnedWaiter) = try caller()
        XCTAssertTrue(success)
        XCTAssertTrue(returnedWaiter === waiter)
        XCTAssertTrue(caller.waiter === waiter)
        XCTAssertTrue(waiter.isDone)
        XCTAssertEqual(try waiter(), 42)
        XCTAssertEqual(try waiter(), 42, "a waiter may be called again")
        XCTAssertEqual(try waiter.finishedOutcome()?.get(), 42)
        XCTAssertEqual(try waiter.waitForResult(timeout: .zero, interrupt: nil).get(), 42)
    }

    func testErrorReachesEveryWaiterOnEveryThread() throws {
        let (waiter, caller) = asyncSplit { () throws -> Int in throw TestError(code: 99) }
        let (success, _) = try caller()
        XCTAssertFalse(success)
        XCTAssertThrowsError(try waiter()) { XCTAssertEqual($0 as? TestError, TestError(code: 99)) }
        // Three threads, each asking three times, all see the same error.
        let seen = Box([[TestError?]](repeating: [], count: 3))
        let lock = Lock()
        XCTAssertTrue(runThreads(3) { i in
            for _ in 0..<3 {
                var got: TestError?
                do { _ = try waiter() } catch { got = error as? TestError }
                lock.acquire()
                seen.value[i].append(got)
                try? lock.release()
            }
        })
        XCTAssertEqual(seen.value, Array(repeating: Array(repeating: TestError(code: 99), count: 3), count: 3))
        guard case .failure(let error)? = waiter.finishedOutcome() else { return XCTFail("not done") }
        XCTAssertEqual(error as? TestError, TestError(code: 99))
    }

    func testCallerRunsTheFunctionOnlyOnce() throws {
        let runs = Atomic<Int>(0)
        let (waiter, caller) = asyncSplit { runs.add(1, ordering: .relaxed).newValue }
        XCTAssertTrue(try caller().success)
        XCTAssertThrowsError(try caller()) { XCTAssertEqual($0 as? DupThreadingError, .alreadyCalled) }
        XCTAssertEqual(runs.load(ordering: .relaxed), 1)
        XCTAssertEqual(try waiter(), 1)
    }

    func testConcurrentCallersRunTheFunctionOnce() throws {
        let runs = Atomic<Int>(0)
        let wins = Atomic<Int>(0)
        let refusals = Atomic<Int>(0)
        let (waiter, caller) = asyncSplit { runs.add(1, ordering: .relaxed).newValue }
        XCTAssertTrue(runThreads(4) { _ in
            do {
                _ = try caller()
                wins.add(1, ordering: .relaxed)
            } catch {
                if error as? DupThreadingError == .alreadyCalled { refusals.add(1, ordering: .relaxed) }
            }
        })
        XCTAssertEqual(runs.load(ordering: .relaxed), 1)
        XCTAssertEqual(wins.load(ordering: .relaxed), 1)
        XCTAssertEqual(refusals.load(ordering: .relaxed), 3)
        XCTAssertEqual(try waiter(), 1)
    }

    func testWaitersOnOtherThreadsAllGetTheResult() throws {
        let (waiter, caller) = asyncSplit { "done" }
        let results = (0..<3).map { _ in Box<String?>(nil) }
        let waiters = results.map { slot in TestThread { slot.value = try? waiter() } }
        // Let them block first (parked), then run the caller elsewhere.
        for t in waiters { try waitUntilParked(t) }
        XCTAssertFalse(waiter.isDone)
        let callerThread = TestThread { _ = try? caller() }
        try join(callerThread)
        for t in waiters { try join(t) }
        XCTAssertEqual(results.map(\.value), ["done", "done", "done"])
    }

    func testWaitForResultTimesOutWhenTheCallerNeverRuns() {
        let (waiter, caller) = asyncSplit { 1 }
        let start = nowNanos()
        XCTAssertThrowsError(try waiter.waitForResult(timeout: .milliseconds(50), interrupt: nil)) {
            XCTAssertEqual($0 as? DupThreadingError, .timedOut)
        }
        let elapsed = millisSince(start)
        XCTAssertGreaterThanOrEqual(elapsed, 45)
        XCTAssertLessThan(elapsed, 1000)
        XCTAssertThrowsError(try waiter.waitForResult(timeout: .zero, interrupt: nil)) {
            XCTAssertEqual($0 as? DupThreadingError, .timedOut)
        }
        XCTAssertFalse(waiter.isDone)
        withExtendedLifetime(caller) {}
    }

    func testNegativeTimeoutThrowsInvalidTimeout() throws {
        let (waiter, caller) = asyncSplit { 1 }
        for _ in 0..<2 {  // before and after the caller ran
            XCTAssertThrowsError(try waiter.waitForResult(timeout: .milliseconds(-1), interrupt: nil)) { error in
                guard case .invalidTimeout = error as? DupThreadingError else {
                    return XCTFail("expected invalidTimeout, got \(error)")
                }
            }
            _ = try? caller()
        }
    }

    func testSignalAndHookInterruptAWaiter() throws {
        installNoOpSIGUSR1Handler(restart: false)
        let (waiter, caller) = asyncSplit { 7 }
        let thrown = Box<DupThreadingError?>(nil)
        let returnedAt = Box<UInt64>(0)
        let t = TestThread {
            do {
                _ = try waiter.waitForResult(timeout: nil, interrupt: { true })
            } catch {
                thrown.value = error as? DupThreadingError
            }
            returnedAt.value = nowNanos()
        }
        try waitUntilParked(t)
        let sentAt = nowNanos()
        t.sendSIGUSR1()
        try join(t)
        XCTAssertEqual(thrown.value, .interrupted)
        XCTAssertLessThan(millisBetween(sentAt, returnedAt.value), 100)
        // The split is unaffected: the result still arrives.
        XCTAssertFalse(waiter.isDone)
        XCTAssertTrue(try caller().success)
        XCTAssertEqual(try waiter(), 7)
    }

    func testStateWhileTheFunctionRuns() throws {
        let started = Atomic<Bool>(false)
        let finish = Atomic<Bool>(false)
        let (waiter, caller) = asyncSplit { () -> Int in
            started.store(true, ordering: .releasing)
            waitUntil { finish.load(ordering: .acquiring) }
            return 5
        }
        let callerThread = TestThread { _ = try? caller() }
        XCTAssertTrue(waitUntil { started.load(ordering: .acquiring) })
        // Running: not done, and a second call is refused without waiting.
        XCTAssertFalse(waiter.isDone)
        XCTAssertNil(waiter.finishedOutcome())
        XCTAssertThrowsError(try caller()) { XCTAssertEqual($0 as? DupThreadingError, .alreadyCalled) }
        finish.store(true, ordering: .releasing)
        XCTAssertEqual(try waiter.waitForResult(timeout: testDeadline, interrupt: nil).get(), 5)
        XCTAssertTrue(waiter.isDone)
        try join(callerThread)
    }

    func testFunctionIsReleasedOnceItRan() throws {
        let counter = DeinitCounter()
        var captured: Tracked? = Tracked(1, counter)
        let (waiter, caller) = asyncSplit { [captured] in captured?.id ?? -1 }
        captured = nil
        XCTAssertEqual(counter.value, 0, "the caller keeps fn (and its captures) alive")
        _ = try caller()
        XCTAssertEqual(counter.value, 1, "fn is released once it has run")
        XCTAssertEqual(try waiter(), 1)
        withExtendedLifetime(caller) {}
    }

    func testCallerDestroyedWithoutRunningAbandonsItsWaiters() throws {
        var split: (waiter: AsyncWaiter<Int>, caller: AsyncCaller<Int>)? = asyncSplit { 1 }
        let waiter = split!.waiter
        // One waiter blocks on another thread before the caller goes away.
        let thrown = Box<DupThreadingError?>(nil)
        let t = TestThread {
            do { _ = try waiter.waitForResult(timeout: testDeadline, interrupt: nil).get() } catch {
                thrown.value = error as? DupThreadingError
            }
        }
        try waitUntilParked(t)
        split = nil
        try join(t)
        XCTAssertEqual(thrown.value, .abandoned)
        XCTAssertTrue(waiter.isDone)
        XCTAssertThrowsError(try waiter()) { XCTAssertEqual($0 as? DupThreadingError, .abandoned) }
    }

    func testWaiterOutlivesTheCaller() throws {
        var split: (waiter: AsyncWaiter<Int>, caller: AsyncCaller<Int>)? = asyncSplit { 3 }
        let waiter = split!.waiter
        let t = TestThread { [caller = split!.caller] in _ = try? caller() }
        split = nil
        try join(t)
        XCTAssertEqual(try waiter(), 3)
    }
}
