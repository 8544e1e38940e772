import Synchronization

/// A condition variable bound to a lock, like Python's `threading.Condition`:
/// threads wait for a state change while the lock is released, and are woken
/// by `notify` or `notifyAll` from a thread that holds the lock.
///
/// Thread-safe. The condition keeps its lock alive. Waiting and notifying
/// require the calling thread to hold the lock (`notOwner` otherwise, where the
/// lock can tell). A wait on a recursively held lock releases it fully and
/// restores the same depth.
///
/// Exact semantics (those of `threading.Condition`, made exact where it is
/// loose):
/// - Waiting threads queue in arrival order. `notify(n)` chooses exactly
///   `min(n, waiting)` of the threads waiting when it is called, the
///   longest-waiting first, and never more. A wait returns notified only if a
///   notify chose it: there are no spurious wake-ups.
/// - A wait whose timeout passes before a notify chooses it returns timed
///   out. A notify that chooses a waiter at the instant its timeout passes is
///   never lost: that waiter returns notified.
/// - An interruption (`interruptWaiters`, or a signal handler running on the
///   waiting thread) only makes the waiter consult its hook. If the hook says
///   go on, the wait goes on with its original deadline, and it has neither
///   returned nor consumed a notify. If the hook says stop (or, for
///   `interruptWaiters`, there is no hook) the wait returns interrupted; a
///   notify that had chosen it in the meantime is handed on to the
///   longest-waiting thread that was already waiting when that notify was
///   called (if there is none, the notify is spent).
/// - A chosen waiter wakes at once (its own futex word): there is no polling.
/// - `waitingThreadCount` counts a thread from the moment its wait begins
///   until it returns with the lock held again.
public final class Condition: Lockable, @unchecked Sendable {
    /// The lock this condition is bound to.
    public let lock: any WaitableLock

    @usableFromInline let queue = WaitQueue()
    // Threads inside a wait, from its start until the lock is held again.
    @usableFromInline let inside: SharedWord64 = .allocate(0)

    /// Creates a condition with its own `RecursiveLock`.
    public convenience init() { self.init(lock: RecursiveLock()) }

    /// Creates a condition bound to `lock`.
    public init(lock: any WaitableLock) { self.lock = lock }

    deinit { inside.deallocate() }

    /// How many threads are inside a wait call on this condition right now
    /// (a snapshot): from the start of the call until it returns with the
    /// lock held again.
    public var waitingThreadCount: Int { inside.load(ordering: .acquiring) }

    /// Runs `body` counted in `waitingThreadCount`. The decrement is the
    /// call's last touch of the condition: a free that sees 0 afterwards
    /// cannot run while this thread is still inside.
    @inline(__always)
    private func counted<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        _ = inside.wrappingAdd(1, ordering: .relaxed)
        defer { _ = inside.wrappingAdd(-1, ordering: .releasing) }
        return try body()
    }

    /// Whether a thread is inside a wait on this condition, or its lock (a
    /// `Lock` or `RecursiveLock`) is held or being acquired. What a C
    /// handle's free checks (the condition may own its lock). Read as lock,
    /// count, lock: a wait counts itself while it holds the lock and stops
    /// counting only once it holds it again, so a thread that holds the lock
    /// or is anywhere inside a wait during the check is seen by one of the
    /// three reads (and the check leaves the lock alone). For a foreign lock
    /// only the count of threads inside a call is checked.
    public var isBusy: Bool {
        let inner: Lock? = (lock as? RecursiveLock)?.inner ?? (lock as? Lock)
        guard let inner else { return waitingThreadCount > 0 }
        return inner.isBusy || waitingThreadCount > 0 || inner.isBusy
    }

    /// Acquires the condition's lock.
    public func acquire() { lock.acquire() }

    /// Releases the condition's lock.
    public func release() throws(DupThreadingError) { try lock.release() }

    /// Waits until a notify chooses this thread (`true`) or the timeout
    /// passes (`false`; `nil`: never). The lock is held again on return.
    /// Throws `notOwner` if the calling thread does not hold the lock,
    /// `invalidTimeout` for a negative timeout, and `interrupted` (with the
    /// lock held again) if `interruptWaiters()` ended the wait: this form has
    /// no hook, so an interruption ends it.
    @discardableResult
    public func wait(timeout: Duration? = nil) throws(DupThreadingError) -> Bool {
        switch try wait(timeout: timeout, interrupt: nil) {
        case .satisfied: return true
        case .timedOut: return false
        case .interrupted: throw .interrupted
        }
    }

    /// Waits until notified, the timeout passes, or the wait is interrupted
    /// (see `InterruptHook` and the semantics above). The lock is held again
    /// on every return path.
    public func wait(
        timeout: Duration?, interrupt: InterruptHook?
    ) throws(DupThreadingError) -> WaitOutcome {
        try counted { () throws(DupThreadingError) in
            try waitOnce(deadline: Deadline(timeout: timeout), interrupt: interrupt)
        }
    }

    /// Waits until `predicate` returns true (checked with the lock held, first
    /// before any waiting), the timeout passes, or the wait is interrupted:
    /// `wait(until:timeout:interrupt:)` for a predicate with a typed error.
    /// Wakes at once on notify: no polling. The lock is held again on every
    /// return path, including interruption and a throwing predicate, whose
    /// error is thrown as `.predicate(error)`; misuse is thrown as
    /// `.misuse(DupThreadingError)`.
    public func wait<E: Error>(
        checking predicate: () throws(E) -> Bool,
        timeout: Duration? = nil,
        interrupt: InterruptHook? = nil
    ) throws(PredicateWaitError<E>) -> WaitOutcome {
        try counted { () throws(PredicateWaitError<E>) -> WaitOutcome in
            let deadline: Deadline
            do throws(DupThreadingError) {
                deadline = try Deadline(timeout: timeout)
                try checkHeld()
            } catch {
                throw .misuse(error)
            }
            func satisfied() throws(PredicateWaitError<E>) -> Bool {
                do throws(E) { return try predicate() } catch { throw .predicate(error) }
            }
            while true {
                if try satisfied() { return .satisfied }
                let outcome: WaitOutcome
                do throws(DupThreadingError) {
                    outcome = try waitOnce(deadline: deadline, interrupt: interrupt)
                } catch {
                    throw .misuse(error)
                }
                switch outcome {
                case .satisfied: continue
                case .interrupted: return .interrupted
                case .timedOut: return try satisfied() ? .satisfied : .timedOut
                }
            }
        }
    }

    /// Chooses up to `n` threads waiting on this condition, longest-waiting
    /// first, and wakes them; returns how many it chose. The calling thread
    /// must hold the lock. Throws `invalidArgument` for a negative `n`;
    /// `n == 0` does nothing; a huge `n` wakes everyone.
    @discardableResult
    public func notify(_ n: Int = 1) throws(DupThreadingError) -> Int {
        guard n >= 0 else { throw .invalidArgument("notify count must not be negative, got \(n)") }
        try checkHeld()
        guard n > 0 else { return 0 }
        return queue.notify(n)
    }

    /// Wakes every thread waiting on this condition; returns how many. The
    /// calling thread must hold the lock.
    @discardableResult
    public func notifyAll() throws(DupThreadingError) -> Int {
        try notify(Int.max)
    }

    /// Disturbs every thread now waiting on this condition, from any thread,
    /// with or without the lock. Each wait consults its interrupt hook and
    /// ends with `.interrupted` if the hook says so (or if it has no hook);
    /// otherwise it goes on waiting as if nothing happened.
    public func interruptWaiters() {
        queue.interruptAll()
    }

    /// Forgets the waiters, and resets the lock if it is a `Lock` or
    /// `RecursiveLock`. Only for a child process right after `fork()`, where
    /// the threads that waited or held the lock no longer exist.
    public func reinitializeAfterFork() {
        queue.reinitializeAfterFork()
        inside.store(0, ordering: .relaxed)
        if let lock = lock as? Lock { lock.reinitializeAfterFork() }
        if let lock = lock as? RecursiveLock { lock.reinitializeAfterFork() }
    }

    private func checkHeld() throws(DupThreadingError) {
        if lock.isHeldByCurrentThread == false { throw .notOwner }
    }

    /// One wait: queue up, release the lock, park on our own node until a
    /// notify chooses us, the deadline passes or the hook says stop, then
    /// restore the lock.
    /// The caller counts itself in `inside` (`counted`) for the whole call.
    private func waitOnce(deadline: Deadline, interrupt: InterruptHook?) throws(DupThreadingError) -> WaitOutcome {
        try checkHeld()
        let result = withUnsafeTemporaryAllocation(byteCount: WaitNode.size, alignment: WaitNode.alignment) {
            memory -> Result<WaitOutcome, DupThreadingError> in
            let node = WaitNode(initializing: memory.baseAddress!)
            // Queued before the lock is released: every notify from now on
            // sees this thread.
            queue.enqueue(node)
            let saved: LockSavedState
            do throws(DupThreadingError) {
                saved = try lock.releaseForWait()
            } catch {
                queue.leaveHandingOnNotify(node)
                // Ours a moment ago (checkHeld): another thread released it
                // since (Lock.releaseFromAnyThread). We do not hold it:
                // notOwner, as documented, not the release's notLocked.
                return .failure(.notOwner)
            }
            let outcome = park(node, deadline: deadline, interrupt: interrupt)
            lock.restoreAfterWait(saved)
            return .success(outcome)
        }
        return try result.get()
    }

    /// Parks on `node` until it is notified (`.satisfied`), the deadline
    /// passes (`.timedOut`) or the hook says stop (`.interrupted`); in the
    /// last two cases the node has left the queue.
    private func park(_ node: WaitNode, deadline: Deadline, interrupt: InterruptHook?) -> WaitOutcome {
        var schedule = HookSchedule(hasHook: interrupt != nil)
        while true {
            let signal = node.signal.load(ordering: .acquiring)
            if signal & WaitNode.notified != 0 { return .satisfied }
            if signal & WaitNode.interrupted != 0 {
                _ = node.signal.word.bitwiseAnd(~WaitNode.interrupted, ordering: .acquiring)
                schedule.disturbed()
                if interrupt?() ?? true { return stop(node) }
                continue
            }
            switch node.signal.park(whileEqualTo: signal, until: schedule.nextWake(deadline)) {
            case .woken:
                schedule.disturbed()
            case .signalled:
                schedule.disturbed()
                if let interrupt, interrupt() { return stop(node) }
            case .timedOut:
                if deadline.hasPassed { return queue.leave(node) ? .timedOut : .satisfied }
                // A scheduled check (not a disturbance: the next stays 2 s away).
                if let interrupt, interrupt() { return stop(node) }
            }
        }
    }

    /// Leaves the queue for a wait the hook stopped.
    private func stop(_ node: WaitNode) -> WaitOutcome {
        queue.leaveHandingOnNotify(node)
        return .interrupted
    }
}

/// How `Condition.wait(checking:timeout:interrupt:)` failed: the predicate
/// threw, or the call was misused. A value type: thread-safe.
public enum PredicateWaitError<Failure: Error>: Error {
    /// The library's own error: the calling thread does not hold the lock,
    /// or the timeout is negative.
    case misuse(DupThreadingError)
    /// The predicate's error.
    case predicate(Failure)
}
