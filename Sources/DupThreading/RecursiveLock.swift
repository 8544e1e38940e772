import Synchronization

/// A reentrant lock: the thread that holds it may acquire it again, and must
/// release it as many times as it acquired it. Like Python's `threading.RLock`.
///
/// Thread-safe. Ownership is tracked: releasing a lock the calling thread does
/// not hold throws `notOwner` (or `notLocked`) instead of corrupting state.
/// Built on `Lock`: the uncontended first acquire is one compare-exchange, and
/// a nested acquire touches no shared cache line that other threads write.
public final class RecursiveLock: WaitableLock, @unchecked Sendable {
    @usableFromInline let inner: Lock
    // The inner lock's words (a copy of `inner.words`: one pointer less to
    // follow). The depth lives in words.depth, written only by the owning
    // thread while it holds `inner`: in the lock's own cache line.
    @usableFromInline let words: LockWords

    /// Creates an unlocked recursive lock.
    public init() {
        inner = Lock()
        words = inner.words
    }

    /// Creates an unlocked recursive lock with room for a payload in its
    /// cache line (see `LockWords`).
    @usableFromInline
    init(payloadSize: Int, payloadAlignment: Int) {
        inner = Lock(payloadSize: payloadSize, payloadAlignment: payloadAlignment)
        words = inner.words
    }

    /// The uninitialized payload room in the lock's cache line.
    @usableFromInline
    var payload: UnsafeMutableRawPointer { words.payload }

    /// Whether any thread holds the lock right now (a snapshot).
    public var isLocked: Bool { inner.isLocked }

    /// Whether the lock is held or a thread is blocked acquiring it (a
    /// snapshot; see `Lock.isBusy`).
    public var isBusy: Bool { inner.isBusy }

    /// Whether the calling thread holds the lock.
    public var isHeldByCurrentThread: Bool? { isOwnedByCurrentThread }

    /// Whether the calling thread holds the lock.
    @inlinable
    public var isOwnedByCurrentThread: Bool { words.isOwnedByCurrentThread }

    /// Which thread holds the lock and how many times, for diagnostics such as
    /// a repr: a snapshot that may be stale by the time it is read. The thread
    /// is its `pthread_t` as an integer, 0 when the lock is free.
    public var ownerSnapshot: (thread: UInt, count: Int) {
        let thread = UInt(bitPattern: words.owner.load(ordering: .relaxed))
        return thread == 0 ? (0, 0) : (thread, words.depth.load(ordering: .relaxed))
    }

    /// How many times the calling thread holds the lock: 0 if it does not hold it.
    public var recursionCount: Int {
        isOwnedByCurrentThread ? words.depth.load(ordering: .relaxed) : 0
    }

    /// Blocks until the calling thread holds the lock (once more).
    @inlinable @inline(__always)
    public func acquire() { words.recursiveAcquire() }

    /// Takes the lock (once more) if that needs no waiting. Returns whether it did.
    @inlinable
    public func tryAcquire() -> Bool { words.recursiveTryAcquire() }

    /// Blocks until the lock is held, the timeout passes (`nil`: never), or
    /// `interrupt` asks to stop. Throws `invalidTimeout` for a negative timeout.
    public func acquire(
        timeout: Duration?, interrupt: InterruptHook? = nil
    ) throws(DupThreadingError) -> WaitOutcome {
        // Validate the timeout before trying: a negative timeout is an error
        // even when the lock is free or already held by the caller.
        let deadline = try Deadline(timeout: timeout)
        if tryAcquire() { return .satisfied }
        let outcome = words.acquireSlow(deadline: deadline, interrupt: interrupt)
        if outcome == .satisfied { words.depth.store(1, ordering: .relaxed) }
        return outcome
    }

    /// Releases one level of the lock. Throws `notOwner` if another thread
    /// holds it, `notLocked` if nobody does, and `heldByOperation` if the
    /// level belongs to an operation in progress (a release from inside a
    /// `Value`'s own `transform`).
    @inlinable
    public func release() throws(DupThreadingError) { try words.recursiveRelease() }

    /// Takes one more level on behalf of an operation of this module's
    /// and pins it (see `LockWords.acquirePinned`). Returns the previous pin,
    /// for `releasePinned`.
    @inlinable @inline(__always)
    func acquirePinned(lending: Bool = false) -> Int { words.acquirePinned(lending: lending) }

    /// Releases the level `acquirePinned` took and restores the previous pin.
    @inlinable @inline(__always)
    func releasePinned(restoring previous: Int) { words.releasePinned(restoring: previous) }

    /// Releases one level; the calling thread must hold the lock.
    @inlinable @inline(__always)
    func releaseOwned() { words.releaseOwned() }

    /// Releases every level at once for a condition wait; returns the depth.
    public func releaseForWait() throws(DupThreadingError) -> LockSavedState {
        guard isOwnedByCurrentThread else {
            throw inner.isLocked ? .notOwner : .notLocked
        }
        guard words.pinned.load(ordering: .relaxed) == 0 else { throw .heldByOperation }
        let saved = LockSavedState(recursionCount: words.depth.load(ordering: .relaxed))
        words.depth.store(0, ordering: .relaxed)
        words.unlock()
        return saved
    }

    /// Takes the lock back at the depth saved by `releaseForWait`.
    public func restoreAfterWait(_ state: LockSavedState) {
        words.acquire(as: currentThreadID())
        words.depth.store(state.recursionCount, ordering: .relaxed)
    }

    /// Resets the lock to unlocked with no owner. Only for a child process
    /// right after `fork()`, where the threads that held the lock no longer exist.
    public func reinitializeAfterFork() {
        inner.reinitializeAfterFork()
        words.depth.store(0, ordering: .relaxed)
        words.pinned.store(0, ordering: .relaxed)
    }
}
