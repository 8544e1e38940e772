/// Anything with acquire and release: every lock type in this module,
/// `Condition` and `Value` conform, and `ForeignLock` adapts any other lock.
///
/// Conforming types must be safe to call from any thread.
public protocol Lockable: AnyObject, Sendable {
    /// Blocks until the calling thread holds the lock.
    func acquire()
    /// Releases the lock. Throws `DupThreadingError` when the calling thread
    /// may not release it (for example, it does not hold it).
    func release() throws(DupThreadingError)
}

/// A lock that a `Condition` can be bound to: it can be released completely
/// for the wait and restored to the same state afterwards.
///
/// Conforming types must be safe to call from any thread.
public protocol WaitableLock: Lockable {
    /// Whether the calling thread holds the lock, or `nil` if that cannot be known.
    var isHeldByCurrentThread: Bool? { get }
    /// Releases the lock completely (all recursion levels) and returns what is
    /// needed to restore it. The calling thread must hold the lock.
    func releaseForWait() throws(DupThreadingError) -> LockSavedState
    /// Blocks until the calling thread holds the lock again in the state saved
    /// by `releaseForWait`. Never interrupted: a wait's lock is always restored.
    func restoreAfterWait(_ state: LockSavedState)
}

/// What `WaitableLock.releaseForWait` saved: the recursion depth to restore.
/// A value type: thread-safe.
public struct LockSavedState: Sendable, Equatable {
    /// How many times the lock was held by its owner (1 for a plain lock).
    public let recursionCount: Int

    /// Creates a saved state for a lock held `recursionCount` times.
    public init(recursionCount: Int) { self.recursionCount = recursionCount }
}
