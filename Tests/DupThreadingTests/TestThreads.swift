// Test helpers: raw pthreads joined with deadlines, a monotonic clock,
// bounded polling, thread-state inspection through /proc, and SIGUSR1 tools.
// Everything here is bounded in time so that a broken lock fails a test
// instead of hanging the suite.

import DupThreading
import Glibc
import Synchronization
import XCTest

// MARK: - Clock

/// Nanoseconds on the monotonic clock.
func nowNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Milliseconds elapsed since `start` (a `nowNanos()` value).
func millisSince(_ start: UInt64) -> Double {
    Double(nowNanos() &- start) / 1_000_000
}

/// Milliseconds between two `nowNanos()` values.
func millisBetween(_ start: UInt64, _ end: UInt64) -> Double {
    Double(Int64(bitPattern: end &- start)) / 1_000_000
}

/// Default bound for anything that should happen "soon": generous, so that a
/// slow machine or the thread sanitizer never causes a false failure, but
/// finite, so a deadlock fails the test.
let testDeadline: Duration = .seconds(10)

private func nanos(_ d: Duration) -> UInt64 {
    let (s, a) = d.components
    return UInt64(max(s, 0)) * 1_000_000_000 + UInt64(max(a, 0) / 1_000_000_000)
}

/// Polls `condition` (every ~100 µs) until it is true or `timeout` passes.
/// Returns whether it became true. Used to wait for another thread to reach a
/// state; never the only synchronisation for correctness.
@discardableResult
func waitUntil(_ timeout: Duration = testDeadline, _ condition: () -> Bool) -> Bool {
    let end = nowNanos() + nanos(timeout)
    while true {
        if condition() { return true }
        if nowNanos() >= end { return false }
        usleep(100)
    }
}

// MARK: - Threads

/// A pthread running a closure. `join(within:)` polls an atomic "finished"
/// flag with a deadline, so a thread stuck on a broken lock fails the test
/// rather than hanging it.
final class TestThread: @unchecked Sendable {
    /// Set (release ordering) when the closure has returned.
    let finished = Atomic<Bool>(false)
    /// The kernel thread ID, published once the thread is running (0 before).
    let kernelTID = Atomic<Int32>(0)
    /// The pthread handle; written once by `init` before anyone reads it.
    private(set) var handle: pthread_t = 0
    private let body: @Sendable () -> Void
    private var joined = false

    /// Starts a thread running `body`.
    init(_ body: @escaping @Sendable () -> Void) {
        self.body = body
        let context = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&handle, nil, { raw in
            let me = Unmanaged<TestThread>.fromOpaque(raw!).takeRetainedValue()
            me.kernelTID.store(currentKernelTID(), ordering: .releasing)
            me.body()
            me.finished.store(true, ordering: .releasing)
            return nil
        }, context)
        precondition(rc == 0, "pthread_create failed: \(rc)")
    }

    /// Whether the closure has returned.
    var isFinished: Bool { finished.load(ordering: .acquiring) }

    /// Waits up to `timeout` for the thread to finish and joins it.
    /// Returns false (and detaches the thread) if it did not finish in time.
    @discardableResult
    func join(within timeout: Duration = testDeadline) -> Bool {
        precondition(!joined, "thread joined twice")
        joined = true
        if waitUntil(timeout, { isFinished }) {
            pthread_join(handle, nil)
            return true
        }
        pthread_detach(handle)
        return false
    }

    /// The kernel TID, waiting (bounded) for the thread to publish it.
    func tid() -> Int32 {
        var t: Int32 = 0
        waitUntil { t = kernelTID.load(ordering: .acquiring); return t != 0 }
        return t
    }

    /// Whether the thread is asleep in the kernel right now (state `S` in
    /// /proc), i.e. parked in a futex wait once it has released its lock.
    var isSleepingInKernel: Bool { kernelThreadState(tid()) == UInt8(ascii: "S") }

    /// Waits (bounded) until the thread is asleep in the kernel.
    @discardableResult
    func waitUntilSleeping(within timeout: Duration = testDeadline) -> Bool {
        waitUntil(timeout) { isSleepingInKernel || isFinished }
    }

    /// Sends SIGUSR1 to this thread.
    func sendSIGUSR1() {
        let rc = pthread_kill(handle, SIGUSR1)
        precondition(rc == 0, "pthread_kill failed: \(rc)")
    }
}

/// Starts `count` threads running `body(index)`, joins them all within
/// `timeout`, and returns whether every one finished. The threads start
/// `body` together (after a start barrier) to maximise contention.
@discardableResult
func runThreads(
    _ count: Int, within timeout: Duration = testDeadline, _ body: @escaping @Sendable (Int) -> Void
) -> Bool {
    let ready = Atomic<Int>(0)
    let threads = (0..<count).map { i in
        TestThread {
            ready.add(1, ordering: .relaxed)
            while ready.load(ordering: .relaxed) < count { sched_yield() }
            body(i)
        }
    }
    let end = nowNanos() + nanos(timeout)
    var all = true
    for t in threads {
        let left = end > nowNanos() ? end - nowNanos() : 0
        if !t.join(within: .nanoseconds(Int64(left))) { all = false }
    }
    return all
}

/// Joins `thread` within the deadline and records a test failure if it hangs.
func assertJoins(
    _ thread: TestThread, within timeout: Duration = testDeadline,
    _ message: String = "thread did not finish in time (deadlock?)",
    file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertTrue(thread.join(within: timeout), message, file: file, line: line)
}

// MARK: - Kernel thread state

/// The calling thread's kernel TID (from /proc/thread-self, which links to
/// "PID/task/TID"; Glibc's gettid() is not imported into Swift).
func currentKernelTID() -> Int32 {
    var buf = [CChar](repeating: 0, count: 64)
    let n = readlink("/proc/thread-self", &buf, buf.count - 1)
    guard n > 0 else { return -1 }
    let text = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return Int32(text.split(separator: "/").last ?? "") ?? -1
}

/// The one-letter scheduler state of thread `tid` of this process
/// ("R" running, "S" sleeping, ...), or 0 if it cannot be read.
func kernelThreadState(_ tid: Int32) -> UInt8 {
    guard tid > 0, let f = fopen("/proc/self/task/\(tid)/stat", "r") else { return 0 }
    defer { fclose(f) }
    var buf = [CChar](repeating: 0, count: 512)
    guard fgets(&buf, Int32(buf.count), f) != nil else { return 0 }
    let bytes = buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    // Format: "tid (comm) S ..."; comm may contain spaces or parentheses.
    guard let close = bytes.lastIndex(of: UInt8(ascii: ")")), close + 2 < bytes.count else { return 0 }
    return bytes[close + 2]
}

// MARK: - Signals

/// Installs a no-op SIGUSR1 handler for the whole process, with or without
/// SA_RESTART. A waiting thread that receives the signal runs the handler,
/// which disturbs its futex wait.
func installNoOpSIGUSR1Handler(restart: Bool) {
    var action = sigaction()
    action.__sigaction_handler.sa_handler = { _ in }
    sigemptyset(&action.sa_mask)
    action.sa_flags = restart ? SA_RESTART : 0
    let rc = sigaction(SIGUSR1, &action, nil)
    precondition(rc == 0, "sigaction failed")
}

/// Whether the installed SIGUSR1 handler has SA_RESTART (to check the helper).
func sigusr1HandlerHasRestart() -> Bool {
    var current = sigaction()
    sigaction(SIGUSR1, nil, &current)
    return current.sa_flags & SA_RESTART != 0
}

// MARK: - Small shared-state helpers

/// A mutable box for test state that the test itself protects (with the lock
/// under test, or by joining the thread that wrote it before reading).
final class Box<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}

/// Counts deinitializations of `Tracked` instances that share it.
final class DeinitCounter: @unchecked Sendable {
    let count = Atomic<Int>(0)
    var value: Int { count.load(ordering: .acquiring) }
}

/// An object that bumps its counter when it is destroyed.
final class Tracked: @unchecked Sendable {
    let id: Int
    let counter: DeinitCounter
    init(_ id: Int, _ counter: DeinitCounter) {
        self.id = id
        self.counter = counter
    }
    deinit { counter.count.add(1, ordering: .releasing) }
}

/// An error with identity, to check that the very same error comes back.
struct TestError: Error, Equatable {
    let code: Int
}

// MARK: - A pthread mutex as a foreign lock

/// A heap-allocated pthread mutex with ownership tracking, to adapt with
/// `ForeignLock` (a lock this library knows nothing about).
final class PthreadMutex: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let owner = Atomic<UInt>(0)
    /// How many times the adapter's acquire / release ran.
    let acquires = Atomic<Int>(0)
    let releases = Atomic<Int>(0)

    init() {
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func lock() {
        pthread_mutex_lock(mutex)
        owner.store(UInt(pthread_self()), ordering: .relaxed)
        acquires.add(1, ordering: .relaxed)
    }

    func unlock() throws(DupThreadingError) {
        guard isHeldByCurrentThread else { throw .notOwner }
        releases.add(1, ordering: .relaxed)
        owner.store(0, ordering: .relaxed)
        pthread_mutex_unlock(mutex)
    }

    var isHeldByCurrentThread: Bool { owner.load(ordering: .relaxed) == UInt(pthread_self()) }

    /// A `ForeignLock` over this mutex; with `tellsOwner` false it gives no
    /// `isHeld` test, so conditions must trust the caller.
    func foreignLock(tellsOwner: Bool = true) -> ForeignLock {
        var isHeld: (@Sendable () -> Bool)?
        if tellsOwner { isHeld = { self.isHeldByCurrentThread } }
        let release: @Sendable () throws(DupThreadingError) -> Void = { () throws(DupThreadingError) in
            try self.unlock()
        }
        return ForeignLock(acquire: { self.lock() }, release: release, isHeld: isHeld)
    }
}

// MARK: - Condition waiter harness

/// What a waiter thread saw. Fields are written by the waiter and read by the
/// test after joining it; `entered` is guarded by the condition's lock.
final class WaiterRecord: @unchecked Sendable {
    var entered = false
    var outcome: WaitOutcome?
    var error: (any Error)?
    var returnedAt: UInt64 = 0
    /// Whether the waiter held the lock right after the wait returned.
    var heldAfter: Bool?
    /// The recursion depth right after the wait (RecursiveLock only, else -1).
    var depthAfter = -1
}

/// Starts a thread that takes `cond`'s lock `depth` times, sets `entered`,
/// runs `wait` (which should wait on `cond`), records how it ended, and then
/// releases the lock as often as it still holds it.
func startWaiter(
    _ cond: Condition, depth: Int = 1, _ wait: @escaping @Sendable () throws -> WaitOutcome
) -> (TestThread, WaiterRecord) {
    let record = WaiterRecord()
    let thread = TestThread {
        for _ in 0..<depth { cond.acquire() }
        record.entered = true
        do { record.outcome = try wait() } catch { record.error = error }
        record.returnedAt = nowNanos()
        record.heldAfter = cond.lock.isHeldByCurrentThread
        let recursive = cond.lock as? RecursiveLock
        record.depthAfter = recursive?.recursionCount ?? -1
        let toRelease = recursive?.recursionCount ?? (record.heldAfter == false ? 0 : 1)
        for _ in 0..<toRelease { try? cond.release() }
    }
    return (thread, record)
}

/// Thrown by a test when something it waited for did not happen in time;
/// XCTest records the thrown error as a failure and the test ends.
struct TimedOut: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out: \(what)" }
}

/// Takes `cond`'s lock once, giving up (throwing) after the test deadline, so
/// a lock that is never released fails the test instead of hanging it.
/// Foreign locks have no timed acquire and are taken with a blocking acquire.
func acquireBounded(_ cond: Condition) throws {
    let outcome: WaitOutcome
    switch cond.lock {
    case let lock as Lock: outcome = try lock.acquire(timeout: testDeadline)
    case let lock as RecursiveLock: outcome = try lock.acquire(timeout: testDeadline)
    default: cond.acquire(); outcome = .satisfied
    }
    if outcome != .satisfied { throw TimedOut(what: "acquiring the condition's lock") }
}

/// Runs `body` with `cond`'s lock held once (taken with `acquireBounded`).
func locked<R>(_ cond: Condition, _ body: () throws -> R) throws -> R {
    try acquireBounded(cond)
    defer { try? cond.release() }
    return try body()
}

/// Waits (bounded) until the waiter has entered its wait: its flag is read
/// with the lock held, and it only releases the lock inside the wait, so a
/// notify sent after this returns cannot be missed. Throws on timeout.
func waitUntilWaiting(_ cond: Condition, _ record: WaiterRecord) throws {
    let entered = waitUntil { (try? locked(cond) { record.entered }) ?? false }
    if !entered { throw TimedOut(what: "the waiter entering its wait") }
}

/// Waits (bounded) until `thread` sleeps in the kernel (parked). Throws on timeout.
func waitUntilParked(_ thread: TestThread) throws {
    if !thread.waitUntilSleeping() { throw TimedOut(what: "the thread parking") }
}

/// Joins `thread` within the deadline or throws.
func join(_ thread: TestThread) throws {
    if !thread.join() { throw TimedOut(what: "joining a thread (deadlock?)") }
}
