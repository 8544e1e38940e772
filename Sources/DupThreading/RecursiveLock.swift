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
    // The depth lives in inner.words.depth, written only by the owning thread
    // while it holds `inner`: in the lock's own cache line.

    /// Creates an unlocked recursive lock.
    public init() { inner = Lock() }

    /// Creates an unlocked recursive lock with room for a payload in its
    /// cache line (see `LockWords`).
    @usableFromInline
    init(payloadSize: Int, payloadAlignment: Int) {
        inner = Lock(payloadSize: payloadSize, payloadAlignment: payloadAlignment)
    }

    /// The uninitialized payload room in the lock's cache line.
    @usableFromInline
    var payload: UnsafeMutableRawPointer { inner.words.payload }

    /// Whether any thread holds the lock right now (a snapshot).
    public var isLocked: Bool { inner.isLocked }

    /// Whether the lock is held or a thread is blocked acquiring it (a
    /// snapshot; see `Lock.isBusy`).
    public var isBusy: Bool { inner.isBusy }

    /// Whether the calling thread holds the lock.
    public var isHeldByCurrentThread: Bool? { isOwnedByCurrentThread }

    /// Whether the calling thread holds the lock.
    @inlinable
    public var isOwnedByCurrentThread: Bool {
        inner.words.owner.load(ordering: .relaxed) == currentThreadID()
    }

    /// Which thread holds the lock and how many times, for diagnostics such as
    /// a repr: a snapshot that may be stale by the time it is read. The thread
    /// is its `pthread_t` as an integer, 0 when the lock is free.
    public var ownerSnapshot: (thread: UInt, count: Int) {
        let thread = UInt(bitPattern: inner.words.owner.load(ordering: .relaxed))
        return thread == 0 ? (0, 0) : (thread, inner.words.depth.load(ordering: .relaxed))
    }

    /// How many times the calling thread holds the lock: 0 if it does not hold it.
    public var recursionCount: Int {
        isOwnedByCurrentThread ? inner.words.depth.load(ordering: .relaxed) : 0
    }

    /// Blocks until the calling thread holds the lock (once more).
    @inlinable @inline(__always)
    public func acquire() {
        let me = currentThreadID()
        if inner.words.owner.load(ordering: .relaxed) == me {
            addLevel()
            return
        }
        inner.acquire(as: me)
        inner.words.depth.store(1, ordering: .relaxed)
    }

    /// Takes the lock (once more) if that needs no waiting. Returns whether it did.
    @inlinable
    public func tryAcquire() -> Bool {
        let me = currentThreadID()
        if inner.words.owner.load(ordering: .relaxed) == me {
            addLevel()
            return true
        }
        guard inner.tryAcquire(as: me) else { return false }
        inner.words.depth.store(1, ordering: .relaxed)
        return true
    }

    /// One more level for the owner. Saturates at `Int.max`, which only a
    /// huge restored depth can reach: wrapping would make a release trap.
    /// Traps if the lock is a `Value`'s whose `withLock` body is running
    /// (the value is lent to that body inout; nothing may touch it).
    @inlinable @inline(__always)
    func addLevel() {
        if inner.words.pinned.load(ordering: .relaxed) & LockWords.borrowedFlag != 0 {
            fatalError("DupThreading: a Value was used from inside its own withLock body, which has the value inout")
        }
        let d = inner.words.depth.load(ordering: .relaxed)
        inner.words.depth.store(d == .max ? d : d + 1, ordering: .relaxed)
    }

    /// Blocks until the lock is held, the timeout passes (`nil`: never), or
    /// `interrupt` asks to stop. Throws `invalidTimeout` for a negative timeout.
    public func acquire(
        timeout: Duration?, interrupt: InterruptHook? = nil
    ) throws(DupThreadingError) -> WaitOutcome {
        // Validate the timeout before trying: a negative timeout is an error
        // even when the lock is free or already held by the caller.
        let deadline = try Deadline(timeout: timeout)
        if tryAcquire() { return .satisfied }
        let outcome = inner.acquireSlow(deadline: deadline, interrupt: interrupt)
        if outcome == .satisfied { inner.words.depth.store(1, ordering: .relaxed) }
        return outcome
    }

    /// Releases one level of the lock. Throws `notOwner` if another thread
    /// holds it, `notLocked` if nobody does, and `heldByOperation` if the
    /// level belongs to an operation in progress (a release from inside a
    /// `Value`'s own `transform`).
    @inlinable
    public func release() throws(DupThreadingError) {
        guard isOwnedByCurrentThread else {
            throw inner.isLocked ? .notOwner : .notLocked
        }
        let pinned = inner.words.pinned.load(ordering: .relaxed) & ~LockWords.borrowedFlag
        guard inner.words.depth.load(ordering: .relaxed) > pinned else { throw .heldByOperation }
        releaseOwned()
    }

    /// Takes one more level on behalf of an operation of this module's
    /// (`Value.transform` and the like) and pins it: until `releasePinned`,
    /// `release()` refuses to release it, so the code the operation calls
    /// cannot release the lock under it. With `lending`, the operation lends
    /// the guarded value inout and any further use of the lock by this
    /// thread traps. Returns the previous pin, for `releasePinned`.
    @inlinable @inline(__always)
    func acquirePinned(lending: Bool = false) -> Int {
        acquire()
        let previous = inner.words.pinned.load(ordering: .relaxed)
        let level = inner.words.depth.load(ordering: .relaxed)
        inner.words.pinned.store(lending ? level | LockWords.borrowedFlag : level, ordering: .relaxed)
        return previous
    }

    /// Releases the level `acquirePinned` took and restores the previous pin.
    @inlinable @inline(__always)
    func releasePinned(restoring previous: Int) {
        inner.words.pinned.store(previous, ordering: .relaxed)
        releaseOwned()
    }

    /// Releases one level; the calling thread must hold the lock.
    @inlinable @inline(__always)
    func releaseOwned() {
        let remaining = inner.words.depth.load(ordering: .relaxed) - 1
        inner.words.depth.store(remaining, ordering: .relaxed)
        if remaining == 0 { inner.unlock() }
    }

    /// Releases every level at once for a condition wait; returns the depth.
    public func releaseForWait() throws(DupThreadingError) -> LockSavedState {
        guard isOwnedByCurrentThread else {
            throw inner.isLocked ? .notOwner : .notLocked
        }
        guard inner.words.pinned.load(ordering: .relaxed) == 0 else { throw .heldByOperation }
        let saved = LockSavedState(recursionCount: inner.words.depth.load(ordering: .relaxed))
        inner.words.depth.store(0, ordering: .relaxed)
        inner.unlock()
        return saved
    }

    /// Takes the lock back at the depth saved by `releaseForWait`.
    public func restoreAfterWait(_ state: LockSavedState) {
        inner.acquire()
        inner.words.depth.store(state.recursionCount, ordering: .relaxed)
    }

    /// Resets the lock to unlocked with no owner. Only for a child process
    /// right after `fork()`, where the threads that held the lock no longer exist.
    public func reinitializeAfterFork() {
        inner.reinitializeAfterFork()
        inner.words.depth.store(0, ordering: .relaxed)
        inner.words.pinned.store(0, ordering: .relaxed)
    }
}
