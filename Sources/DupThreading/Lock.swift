import Synchronization

/// A non-reentrant mutual-exclusion lock: one atomic word, parked on with a futex.
///
/// Thread-safe. The uncontended acquire is one compare-exchange and the
/// release one exchange; contended threads park in the kernel, no polling.
/// The lock remembers which thread holds it, so that `release()` from another
/// thread is reported as `DupThreadingError.notOwner` instead of silently
/// corrupting state. `releaseFromAnyThread()` offers the hand-off semantics
/// of Python's `threading.Lock` (any thread may release).
///
/// Acquiring a `Lock` the calling thread already holds blocks until another
/// thread releases it with `releaseFromAnyThread()` or the timeout passes.
/// Destroying a lock that is still held is allowed; no thread may be waiting on it.
public final class Lock: WaitableLock, @unchecked Sendable {
    // The state word, the holder and (for RecursiveLock) the depth, in one cache line.
    @usableFromInline let words: LockWords

    // 0 = unlocked, 1 = locked, 2 = locked and other threads may be parked.
    @usableFromInline var state: FutexWord {
        @inline(__always) get { words.state }
    }
    // The holder's thread ID (words.owner), 0 when unlocked, is written only
    // by the holder while it holds the lock; read by anyone with relaxed
    // ordering, which can only ever return the caller's own ID if the caller
    // itself wrote it.

    /// Creates an unlocked lock.
    public init() { words = LockWords() }

    /// Creates an unlocked lock whose cache line also has room for a payload
    /// of `payloadSize` bytes aligned to `payloadAlignment` (see `LockWords`).
    @usableFromInline
    init(payloadSize: Int, payloadAlignment: Int) {
        words = LockWords(payloadSize: payloadSize, payloadAlignment: payloadAlignment)
    }

    deinit {
        words.deallocate()
    }

    /// Whether any thread holds the lock right now (a snapshot).
    public var isLocked: Bool { state.load(ordering: .relaxed) != 0 }

    /// Whether the lock is held or a thread is blocked acquiring it (a
    /// snapshot). What a C handle's free checks. A thread counts as blocked
    /// from the moment it enters the slow path of an acquire (just after
    /// finding the lock held) until it returns: one that is only starting a
    /// call is not seen, which is why a handle must not be freed while
    /// another thread may start using it.
    public var isBusy: Bool {
        // Waiters first: one that acquires sets the state before it stops
        // counting itself, so a thread seen in neither has finished.
        words.acquiring.load(ordering: .acquiring) != 0 || state.load(ordering: .acquiring) != 0
    }

    /// Whether the calling thread holds the lock.
    public var isHeldByCurrentThread: Bool? { words.owner.load(ordering: .relaxed) == currentThreadID() }

    /// Blocks until the calling thread holds the lock.
    @inlinable
    public func acquire() {
        acquire(as: currentThreadID())
    }

    /// `acquire()` for a caller that already knows its thread ID.
    @inlinable @inline(__always)
    func acquire(as me: Int) {
        words.acquire(as: me)
    }

    /// Takes the lock if it is free, without blocking. Returns whether it did.
    @inlinable
    public func tryAcquire() -> Bool {
        words.tryAcquire(as: currentThreadID())
    }

    /// Blocks until the lock is held, the timeout passes (`nil`: never), or
    /// `interrupt` asks to stop. Throws `invalidTimeout` for a negative timeout.
    public func acquire(
        timeout: Duration?, interrupt: InterruptHook? = nil
    ) throws(DupThreadingError) -> WaitOutcome {
        // Validate the timeout before trying: a negative timeout is an error
        // even when the lock happens to be free.
        let deadline = try Deadline(timeout: timeout)
        if tryAcquire() { return .satisfied }
        return acquireSlow(deadline: deadline, interrupt: interrupt)
    }

    /// Like `acquire(timeout:interrupt:)`, with an absolute deadline.
    @usableFromInline
    func acquireSlow(deadline: Deadline, interrupt: InterruptHook?) -> WaitOutcome {
        words.acquireSlow(deadline: deadline, interrupt: interrupt)
    }

    /// Releases the lock. Throws `notLocked` if it is not held and `notOwner`
    /// if another thread holds it.
    @inlinable
    public func release() throws(DupThreadingError) {
        // Claim the hold by clearing the holder with a compare-exchange, so
        // that a racing `releaseFromAnyThread` cannot release it too.
        guard words.owner.compareExchange(expected: currentThreadID(), desired: 0, ordering: .relaxed).exchanged else {
            throw failedReleaseError()
        }
        unlockState()
    }

    /// Why a release by a thread that does not hold the lock fails:
    /// `notLocked` if nobody holds it, `notOwner` if another thread does
    /// (once any hand-over in progress is over: see `settledHolder`).
    @usableFromInline
    func failedReleaseError() -> DupThreadingError {
        settledHolder() == nil ? .notLocked : .notOwner
    }

    /// Releases the lock whichever thread holds it, as Python's
    /// `threading.Lock.release` does. Throws `notLocked` if it is not held.
    ///
    /// Each successful release ends exactly one hold: of two racing
    /// releases of one hold, one succeeds and the other throws `notLocked`
    /// (or releases a hold some thread took after the first release).
    public func releaseFromAnyThread() throws(DupThreadingError) {
        while true {
            guard let holder = settledHolder() else { throw .notLocked }
            // Claim this hold; a failure means it changed hands: look again.
            if words.owner.compareExchange(expected: holder, desired: 0, ordering: .relaxed).exchanged {
                unlockState()
                return
            }
        }
    }

    /// The holder's thread ID, or nil if the lock is not held. A lock with a
    /// state but no holder ID is changing hands: an acquirer has taken the
    /// state word but not yet written its ID, or a release has claimed the
    /// hold but not yet cleared the state. Either takes a few instructions,
    /// which this waits out, so that a release racing another release of its
    /// own hold is not told that some other thread holds the lock.
    @usableFromInline
    func settledHolder() -> Int? {
        while true {
            if state.load(ordering: .relaxed) == 0 { return nil }
            let holder = words.owner.load(ordering: .relaxed)
            if holder != 0 { return holder }
            spinPause()
        }
    }

    /// Releases the lock for its holder, which knows it holds it.
    @inlinable @inline(__always)
    func unlock() {
        words.unlock()
    }

    /// Frees the state word, once the hold has been claimed (owner cleared).
    @inlinable @inline(__always)
    func unlockState() {
        words.unlockState()
    }

    /// Resets the lock to unlocked with no owner. Only for a child process
    /// right after `fork()`, where the threads that held the lock no longer exist.
    public func reinitializeAfterFork() {
        words.owner.store(0, ordering: .relaxed)
        words.acquiring.store(0, ordering: .relaxed)
        state.store(0, ordering: .relaxed)
    }

    /// Releases the lock for a condition wait. The calling thread must hold it.
    public func releaseForWait() throws(DupThreadingError) -> LockSavedState {
        try release()
        return LockSavedState(recursionCount: 1)
    }

    /// Takes the lock back after a condition wait.
    public func restoreAfterWait(_ state: LockSavedState) {
        acquire()
    }
}
