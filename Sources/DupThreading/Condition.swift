import Synchronization

/// A condition variable bound to a lock, like Python's `threading.Condition`:
/// threads wait for a state change while the lock is released, and are woken
/// by `notify` or `notifyAll` from a thread that holds the lock.
///
/// Thread-safe. The condition keeps its lock alive. Waiting and notifying
/// require the calling thread to hold the lock (`notOwner` otherwise, where the
/// lock can tell). A wait on a recursively held lock releases it fully and
/// restores the same depth. Wake-ups come through a futex, so a notified
/// waiter wakes at once; there is no polling. As Python allows, a notify may
/// occasionally wake more than `n` waiters, and waiters must re-check their
/// predicate (`wait(until:)` does this for you).
public final class Condition: Lockable, @unchecked Sendable {
    /// The lock this condition is bound to.
    public let lock: any WaitableLock

    // Bumped under the lock by every notify; waiters park on it.
    @usableFromInline let sequence = FutexWord(0)
    // Threads between "about to release the lock" and "woken"; lets notify
    // skip the system call when nobody waits.
    @usableFromInline let waiters: SharedWord64 = .allocate(0)
    // Bumped by every `interruptWaiters()`.
    @usableFromInline let interruptions: SharedWord32 = .allocate(0)

    /// Creates a condition with its own `RecursiveLock`.
    public convenience init() { self.init(lock: RecursiveLock()) }

    /// Creates a condition bound to `lock`.
    public init(lock: some WaitableLock) { self.lock = lock }

    deinit { sequence.deallocate(); waiters.deallocate(); interruptions.deallocate() }

    /// How many threads are waiting on this condition right now (a snapshot).
    public var waitingThreadCount: Int { waiters.load(ordering: .relaxed) }

    /// Acquires the condition's lock.
    public func acquire() { lock.acquire() }

    /// Releases the condition's lock.
    public func release() throws(DupThreadingError) { try lock.release() }

    /// Waits until notified or until the timeout passes (`nil`: never).
    /// Returns `false` only if the timeout passed. The lock is held again on return.
    /// Throws `notOwner` if the calling thread does not hold the lock and
    /// `invalidTimeout` for a negative timeout.
    @discardableResult
    public func wait(timeout: Duration? = nil) throws(DupThreadingError) -> Bool {
        try waitOnce(deadline: Deadline(timeout: timeout), interrupt: nil) != .timedOut
    }

    /// Waits until notified, the timeout passes, or the wait is interrupted
    /// (see `InterruptHook`). The lock is held again on every return path.
    public func wait(
        timeout: Duration?, interrupt: InterruptHook?
    ) throws(DupThreadingError) -> WaitOutcome {
        try waitOnce(deadline: Deadline(timeout: timeout), interrupt: interrupt)
    }

    /// Waits until `predicate` returns true (checked with the lock held, first
    /// before any waiting), the timeout passes, or the wait is interrupted.
    /// Wakes at once on notify: no polling. The lock is held again on every
    /// return path, including interruption and a throwing predicate, whose
    /// error is rethrown. Throws `DupThreadingError` for misuse.
    public func wait(
        until predicate: () throws -> Bool,
        timeout: Duration? = nil,
        interrupt: InterruptHook? = nil
    ) throws -> WaitOutcome {
        let deadline = try Deadline(timeout: timeout)
        try checkHeld()
        while true {
            if try predicate() { return .satisfied }
            switch try waitOnce(deadline: deadline, interrupt: interrupt) {
            case .satisfied: continue
            case .interrupted: return .interrupted
            case .timedOut: return try predicate() ? .satisfied : .timedOut
            }
        }
    }

    /// Wakes up to `n` threads waiting on this condition. The calling thread
    /// must hold the lock. Throws `invalidArgument` for a negative `n`;
    /// `n == 0` does nothing; a huge `n` wakes everyone.
    public func notify(_ n: Int = 1) throws(DupThreadingError) {
        guard n >= 0 else { throw .invalidArgument("notify count must not be negative, got \(n)") }
        try checkHeld()
        guard n > 0 else { return }
        _ = sequence.wrappingAdd(1, ordering: .relaxed)
        if waiters.load(ordering: .relaxed) > 0 {
            sequence.wake(Int32(clamping: n))
        }
    }

    /// Wakes every thread waiting on this condition. The calling thread must hold the lock.
    public func notifyAll() throws(DupThreadingError) {
        try notify(Int(Int32.max))
    }

    /// Disturbs every thread now waiting on this condition, from any thread,
    /// with or without the lock. Each wait consults its interrupt hook and
    /// ends with `.interrupted` if the hook says so (or if it has no hook);
    /// otherwise the wake-up counts as a spurious one.
    public func interruptWaiters() {
        _ = interruptions.wrappingAdd(1, ordering: .sequentiallyConsistent)
        _ = sequence.wrappingAdd(1, ordering: .sequentiallyConsistent)
        sequence.wakeAll()
    }

    /// Forgets the waiters, and resets the lock if it is a `Lock` or
    /// `RecursiveLock`. Only for a child process right after `fork()`, where
    /// the threads that waited or held the lock no longer exist.
    public func reinitializeAfterFork() {
        waiters.store(0, ordering: .relaxed)
        if let lock = lock as? Lock { lock.reinitializeAfterFork() }
        if let lock = lock as? RecursiveLock { lock.reinitializeAfterFork() }
    }

    private func checkHeld() throws(DupThreadingError) {
        if lock.isHeldByCurrentThread == false { throw .notOwner }
    }

    /// One wait: release the lock, park until the sequence moves, the deadline
    /// passes or the hook says stop, then restore the lock.
    private func waitOnce(deadline: Deadline, interrupt: InterruptHook?) throws(DupThreadingError) -> WaitOutcome {
        try checkHeld()
        // Interruptions first: `interruptWaiters` bumps them before the
        // sequence, so an interruption we miss here moves the sequence later.
        var seenInterruptions = interruptions.load(ordering: .sequentiallyConsistent)
        // Read under the lock: any notify after this point changes `sequence`,
        // so parking on this value cannot miss it.
        let seq = sequence.load(ordering: .sequentiallyConsistent)
        _ = waiters.wrappingAdd(1, ordering: .relaxed)
        let saved: LockSavedState
        do {
            saved = try lock.releaseForWait()
        } catch {
            _ = waiters.wrappingAdd(-1, ordering: .relaxed)
            // Ours a moment ago (checkHeld): another thread released it since
            // (Lock.releaseFromAnyThread). We do not hold it: notOwner, as
            // documented, not the notLocked the release would report.
            throw .notOwner
        }
        defer {
            _ = waiters.wrappingAdd(-1, ordering: .relaxed)
            lock.restoreAfterWait(saved)
        }
        var schedule = HookSchedule(hasHook: interrupt != nil)
        while true {
            let parked = sequence.park(whileEqualTo: seq, until: schedule.nextWake(deadline))
            let nowInterruptions = interruptions.load(ordering: .sequentiallyConsistent)
            if nowInterruptions != seenInterruptions {
                if interrupt?() ?? true { return .interrupted }
                seenInterruptions = nowInterruptions
            }
            if sequence.load(ordering: .relaxed) != seq { return .satisfied }
            switch parked {
            case .woken:
                continue
            case .signalled:
                if let interrupt, interrupt() { return .interrupted }
            case .timedOut:
                if deadline.hasPassed { return .timedOut }
                if let interrupt, interrupt() { return .interrupted }
            }
        }
    }
}

/// Waits on `condition` until `predicate` is true, as duplicity's
/// `interruptably_wait(cv, waitFor)` does, but without polling: it wakes at
/// once on notify, and consults `interrupt` when the wait is disturbed.
///
/// The calling thread must hold the condition's lock; it holds it again on
/// every return path. Returns `.satisfied`, `.timedOut` or `.interrupted`.
/// Rethrows the predicate's error; throws `DupThreadingError` for misuse.
public func interruptiblyWait(
    _ condition: Condition,
    timeout: Duration? = nil,
    interrupt: InterruptHook? = nil,
    until predicate: () throws -> Bool
) throws -> WaitOutcome {
    try condition.wait(until: predicate, timeout: timeout, interrupt: interrupt)
}
