/// Adapts any lock given as a pair of closures to `WaitableLock`, so that
/// `withLock` and `Condition` work with it.
///
/// Thread-safe as far as the closures are. The closures are retained for the
/// adapter's lifetime. Whether the calling thread holds a foreign lock cannot
/// be known unless `isHeld` is given; without it, conditions trust the caller.
public final class ForeignLock: WaitableLock, @unchecked Sendable {
    private let acquireBody: @Sendable () -> Void
    private let releaseBody: @Sendable () throws(DupThreadingError) -> Void
    private let isHeldBody: (@Sendable () -> Bool)?

    /// Wraps a lock's acquire and release (and, optionally, a test of whether
    /// the calling thread holds it).
    public init(
        acquire: @escaping @Sendable () -> Void,
        release: @escaping @Sendable () throws(DupThreadingError) -> Void,
        isHeld: (@Sendable () -> Bool)? = nil
    ) {
        acquireBody = acquire
        releaseBody = release
        isHeldBody = isHeld
    }

    /// Runs the wrapped acquire.
    public func acquire() { acquireBody() }

    /// Runs the wrapped release.
    public func release() throws(DupThreadingError) { try releaseBody() }

    /// The wrapped test, or `nil` when none was given.
    public var isHeldByCurrentThread: Bool? { isHeldBody?() }

    /// Releases once: a foreign lock is treated as non-reentrant.
    public func releaseForWait() throws(DupThreadingError) -> LockSavedState {
        try releaseBody()
        return LockSavedState(recursionCount: 1)
    }

    /// Acquires once.
    public func restoreAfterWait(_ state: LockSavedState) { acquireBody() }
}
