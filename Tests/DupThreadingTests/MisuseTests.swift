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

    /// A timeout just past what UInt64 nanoseconds hold saturates to "no
    /// limit" instead of wrapping to a tiny one (it used to become 90 ms).
    func testTimeoutPastUInt64NanosecondsSaturates() throws {
        let timeout: Duration = .seconds(18_446_744_073) + .milliseconds(800)
        let lock = Lock()
        lock.acquire()
        let outcome = Box<WaitOutcome?>(nil)
        let t = TestThread { outcome.value = try? lock.acquire(timeout: timeout) }
        usleep(300_000)
        XCTAssertNil(outcome.value, "the wait ended after \(String(describing: outcome.value)) within 300 ms")
        try lock.releaseFromAnyThread()
        XCTAssertTrue(t.join())
        XCTAssertEqual(outcome.value, .satisfied)
        try lock.releaseFromAnyThread()  // the finished thread's hold
    }

    /// A Value released from inside its own transform: the release is
    /// refused (`heldByOperation`), the transform stores its result under the
    /// lock, and the Value stays usable from other threads.
    func testReleaseInsideTransformIsRefused() throws {
        let value = Value(1)
        var refused: DupThreadingError?
        value.transform { current in
            do throws(DupThreadingError) { try value.release() } catch { refused = error }
            return current + 1
        }
        XCTAssertEqual(refused, .heldByOperation)
        XCTAssertFalse(value.isLocked)
        let seen = Box(0)
        let t = TestThread { seen.value = value.get() }
        XCTAssertTrue(t.join())
        XCTAssertEqual(seen.value, 2)
        // A level of its own, taken inside the transform, may be released.
        try value.transform { current in
            value.acquire()
            XCTAssertNoThrow(try value.release())
            return current
        }
        // So may a level taken before the transform, once it has returned.
        value.acquire()
        value.transform { $0 }
        try value.release()
        XCTAssertFalse(value.isLocked)
        XCTAssertThrowsError(try value.release()) { XCTAssertEqual($0 as? DupThreadingError, .notLocked) }
    }

    /// Using a Value from inside its own `withLock` body (which has the value
    /// inout) traps with a message, in a child process.
    func testValueUsedInsideItsOwnWithLockTraps() throws {
        let value = Value(0)
        let (died, output) = runInChildProcess {
            value.withLock { stored in
                stored += 1
                _ = value.get()
            }
        }
        XCTAssertTrue(died, "the child was not stopped by a trap")
        XCTAssertTrue(output.contains("withLock"), "trap message: \(output)")
        // In this process nothing happened to the Value.
        XCTAssertEqual(value.get(), 0)
        XCTAssertThrowsError(try value.withLock { (_: inout Int) throws(DupThreadingError) in try value.release() }) {
            XCTAssertEqual($0 as? DupThreadingError, .heldByOperation)
        }
        XCTAssertFalse(value.isLocked)
    }
}

/// Runs `body` in a forked child process with its standard error captured.
/// Returns whether the child was killed by a signal (a trap) and what it
/// wrote. The child is killed if it runs for more than 10 seconds.
func runInChildProcess(_ body: () -> Void) -> (killedBySignal: Bool, stderr: String) {
    var fds: [Int32] = [0, 0]
    precondition(pipe(&fds) == 0)
    let pid = fork()
    precondition(pid >= 0, "fork failed")
    if pid == 0 {
        // Only the pipe and /dev/null stay open: a crash reporter the trap
        // starts inherits the child's descriptors, and must not keep the test
        // runner's output open after the child is gone.
        dup2(fds[1], 2)
        let devnull = open("/dev/null", O_RDWR)
        dup2(devnull, 0)
        dup2(devnull, 1)
        for fd in Int32(3)..<Int32(1024) { close(fd) }
        body()
        _exit(0)
    }
    close(fds[1])
    var status: Int32 = 0
    let deadline = nowNanos() + 10_000_000_000
    while waitpid(pid, &status, WNOHANG) == 0 {
        if nowNanos() > deadline {
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
            break
        }
        usleep(1000)
    }
    // Only what is already written: a crash reporter the child started may
    // keep the pipe open after the child is gone.
    _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
    var output: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = read(fds[0], &buffer, buffer.count)
        if n <= 0 { break }
        output += buffer[0..<n]
    }
    close(fds[0])  // a crash reporter still writing gets EPIPE and ends
    let signalled = (status & 0x7f) != 0 && (status & 0x7f) != 0x7f
    return (signalled, String(decoding: output, as: UTF8.self))
}
