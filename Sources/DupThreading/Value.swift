/// A thread-safe container of a reference (or any value), like duplicity's
/// `dup_threading.Value`: get, set and transform are atomic, and `acquire` /
/// `release` give a caller exclusive access for compound operations.
///
/// Thread-safe for the reference it holds, not for the object referred to
/// (as the reference documentation puts it): mutate a shared object inside
/// `withLock` or `transform`. The lock is reentrant, so `get()` inside `withLock(value) { ... }`
/// on the same thread works. The container owns its stored value; a value
/// replaced by `set` is destroyed after the lock is released, so a `deinit`
/// that touches the container cannot deadlock on it.
public final class Value<T: Sendable>: Lockable, @unchecked Sendable {
    @usableFromInline let lock: RecursiveLock
    // The lock's words (a copy of `lock.words`): every operation reaches the
    // lock's cache line through this one pointer.
    @usableFromInline let words: LockWords
    // The stored value, guarded by `lock` and kept in the lock's own cache
    // line (when it fits), so that an operation on a contended Value moves
    // one cache line between cores. Initialized for the Value's whole life.
    @usableFromInline let slot: UnsafeMutablePointer<T>

    /// Creates a container holding `value`.
    public init(_ value: T) {
        lock = RecursiveLock(payloadSize: MemoryLayout<T>.size, payloadAlignment: MemoryLayout<T>.alignment)
        words = lock.words
        slot = words.payload.bindMemory(to: T.self, capacity: 1)
        slot.initialize(to: value)
    }

    deinit {
        // Before `lock` (and with it the line) is freed.
        slot.deinitialize(count: 1)
    }

    /// The stored value; read and written only with the lock held.
    @usableFromInline
    var storage: T {
        @inline(__always) get { slot.pointee }
        @inline(__always) _modify { yield &slot.pointee }
    }

    /// Returns the stored value.
    @inlinable
    public func get() -> T {
        words.recursiveAcquire()
        defer { words.releaseOwned() }
        return storage
    }

    /// Replaces the stored value.
    @inlinable
    public func set(_ value: T) {
        _ = exchange(value)
    }

    /// Replaces the stored value and returns the previous one.
    @inlinable
    public func exchange(_ value: T) -> T {
        words.recursiveAcquire()
        defer { words.releaseOwned() }
        let old = storage
        storage = value
        return old
    }

    /// Calls `fn` with the current value while holding exclusive access, stores
    /// what it returns and returns that. If `fn` throws, the stored value is
    /// unchanged, the lock is released, and the error propagates. `fn` may use
    /// this Value again (the lock is reentrant), but may not release the
    /// level the transform holds (`release()` throws `heldByOperation`).
    @inlinable
    public func transform<E: Error>(_ fn: (T) throws(E) -> T) throws(E) -> T {
        try replace(fn).current
    }

    /// Like `transform`, and also returns the value that was replaced. The
    /// replaced value is handed back after the lock is released, so that its
    /// `deinit` may use this Value.
    @inlinable @inline(__always)
    public func replace<E: Error>(_ fn: (T) throws(E) -> T) throws(E) -> (previous: T, current: T) {
        // Always inlined: a call that is not inlined retains and releases
        // `self` around the closure, an atomic write on the Value's header
        // that every thread using the Value contends for (dt_value_transform).
        let pin = words.acquirePinned()
        let new: T
        do throws(E) {
            new = try fn(storage)
        } catch {
            words.releasePinned(restoring: pin)
            throw error
        }
        let old = storage
        storage = new
        words.releasePinned(restoring: pin)
        return (old, new)
    }

    /// Calls `body` with the current value while holding exclusive access and
    /// returns its result. Unlike `withLock`, `body` gets a copy, so it may
    /// use this Value again (the lock is reentrant).
    @inlinable
    public func read<R, E: Error>(_ body: (T) throws(E) -> R) throws(E) -> R {
        let pin = words.acquirePinned()
        defer { words.releasePinned(restoring: pin) }
        return try body(storage)
    }

    /// Runs `body` with exclusive, mutable access to the stored value and
    /// returns its result. If `body` throws, changes it already made stay.
    ///
    /// `body` must not use this Value through its other methods: it already
    /// has the value `inout`. Doing so traps (a documented misuse check);
    /// `release()` from the body throws `heldByOperation`. For reentrant use,
    /// call `acquire()` / `release()` or the free function
    /// `withLock(value) { ... }` instead.
    @inlinable
    public func withLock<R, E: Error>(_ body: (inout T) throws(E) -> R) throws(E) -> R {
        let pin = words.acquirePinned(lending: true)
        defer { words.releasePinned(restoring: pin) }
        return try body(&storage)
    }

    /// Acquires exclusive access (reentrant). Pair with `release()`.
    @inlinable
    public func acquire() { words.recursiveAcquire() }

    /// Acquires exclusive access unless that means waiting.
    /// Returns whether it did.
    @inlinable
    public func tryAcquire() -> Bool { words.recursiveTryAcquire() }

    /// Acquires exclusive access, giving up when the timeout passes (`nil`:
    /// never) or `interrupt` says stop. Throws `invalidTimeout` for a negative timeout.
    public func acquire(
        timeout: Duration?, interrupt: InterruptHook? = nil
    ) throws(DupThreadingError) -> WaitOutcome {
        try lock.acquire(timeout: timeout, interrupt: interrupt)
    }

    /// Releases one level of exclusive access. Throws `notOwner` or
    /// `notLocked` if the calling thread does not hold it, and
    /// `heldByOperation` for the level a running `transform` (or `read`,
    /// `replace`, `withLock`) of this Value holds.
    @inlinable
    public func release() throws(DupThreadingError) { try words.recursiveRelease() }

    /// Whether any thread holds exclusive access right now (a snapshot).
    public var isLocked: Bool { lock.isLocked }

    /// Whether any thread holds exclusive access or is blocked acquiring it
    /// (a snapshot; see `Lock.isBusy`).
    public var isBusy: Bool { lock.isBusy }

    /// Whether the calling thread holds exclusive access.
    public var isHeldByCurrentThread: Bool { words.isOwnedByCurrentThread }
}
