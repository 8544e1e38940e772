import Synchronization

/// The words of one lock, side by side in one cache line of their own: the
/// futex state word, the holder's thread ID, (for `RecursiveLock`) the
/// recursion depth and the pinned level, and optionally a payload the lock guards (a `Value`'s
/// stored value). Taking the lock, using the payload and releasing the lock
/// then touch one cache line, so a contended hand-off moves one line between
/// cores, not several. Owned by its `Lock`, which frees it in its `deinit`;
/// the payload's owner deinitializes the payload before that.
@usableFromInline
struct LockWords: @unchecked Sendable {
    /// 0 = unlocked, 1 = locked, 2 = locked and other threads may be parked.
    @usableFromInline let state: FutexWord
    /// How many threads are in the slow path of an acquire (about to park,
    /// parked, or just woken): with `state`, what tells a free that the lock
    /// is still in use.
    @usableFromInline let acquiring: SharedWord32
    /// The holder's thread ID (`currentThreadID()`), 0 when unlocked.
    @usableFromInline let owner: SharedWord64
    /// How many times the holder holds a `RecursiveLock`.
    @usableFromInline let depth: SharedWord64
    /// The level of a `RecursiveLock` that an operation in progress holds
    /// (see `RecursiveLock.acquirePinned`), 0 if none, with `borrowedFlag`
    /// set while a `Value.withLock` body has the value inout. Written and
    /// read only by the holder.
    @usableFromInline let pinned: SharedWord64
    @usableFromInline static let borrowedFlag = 1 << 62
    /// Uninitialized room for the payload, right after the words.
    @usableFromInline let payload: UnsafeMutableRawPointer

    /// Where the payload starts in the line: after the four words.
    static let payloadOffset = 32
    static let lineSize = 64

    /// Allocates the words (unlocked, no owner) with room for a payload of
    /// `payloadSize` bytes aligned to `payloadAlignment`.
    @usableFromInline
    init(payloadSize: Int = 0, payloadAlignment: Int = 1) {
        let alignment = Swift.max(LockWords.lineSize, payloadAlignment)
        let offset = LockWords.roundUp(LockWords.payloadOffset, to: payloadAlignment)
        let size = LockWords.roundUp(offset + payloadSize, to: LockWords.lineSize)
        let line = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: alignment)
        let state = line.bindMemory(to: Atomic<UInt32>.self, capacity: 2)
        state.initialize(to: Atomic(0))
        (state + 1).initialize(to: Atomic(0))
        acquiring = SharedWord32(state + 1)
        let owner = (line + 8).bindMemory(to: Atomic<Int>.self, capacity: 1)
        owner.initialize(to: Atomic(0))
        self.owner = SharedWord64(owner)
        let depth = (line + 16).bindMemory(to: Atomic<Int>.self, capacity: 1)
        depth.initialize(to: Atomic(0))
        self.depth = SharedWord64(depth)
        let pinned = (line + 24).bindMemory(to: Atomic<Int>.self, capacity: 1)
        pinned.initialize(to: Atomic(0))
        self.pinned = SharedWord64(pinned)
        payload = line + offset
        self.state = FutexWord(existing: state)
    }

    private static func roundUp(_ n: Int, to alignment: Int) -> Int {
        (n + alignment - 1) / alignment * alignment
    }

    /// Frees the line. Only the owning lock calls this, from its `deinit`.
    @usableFromInline
    func deallocate() {
        state.pointer.deinitialize(count: 2)
        owner.pointer.deinitialize(count: 1)
        depth.pointer.deinitialize(count: 1)
        pinned.pointer.deinitialize(count: 1)
        UnsafeMutableRawPointer(state.pointer).deallocate()
    }
}
