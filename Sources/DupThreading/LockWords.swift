import Synchronization

/// The words of one lock, side by side in one cache line of their own: the
/// futex state word, the holder's thread ID and (for `RecursiveLock`) the
/// recursion depth. Taking and releasing the lock touches only this line, so
/// a contended hand-off moves one cache line between cores, not three.
/// Owned by its `Lock`, which frees it in its `deinit`.
@usableFromInline
struct LockWords: @unchecked Sendable {
    /// 0 = unlocked, 1 = locked, 2 = locked and other threads may be parked.
    @usableFromInline let state: FutexWord
    /// The holder's thread ID, 0 when unlocked.
    @usableFromInline let owner: UnsafeMutablePointer<Atomic<UInt>>
    /// How many times the holder holds a `RecursiveLock`.
    @usableFromInline let depth: UnsafeMutablePointer<Atomic<Int>>

    @usableFromInline
    init() {
        let line = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)
        let state = line.bindMemory(to: Atomic<UInt32>.self, capacity: 1)
        state.initialize(to: Atomic(0))
        owner = (line + 8).bindMemory(to: Atomic<UInt>.self, capacity: 1)
        owner.initialize(to: Atomic(0))
        depth = (line + 16).bindMemory(to: Atomic<Int>.self, capacity: 1)
        depth.initialize(to: Atomic(0))
        self.state = FutexWord(existing: state)
    }

    /// Frees the line. Only the owning lock calls this, from its `deinit`.
    @usableFromInline
    func deallocate() {
        state.pointer.deinitialize(count: 1)
        owner.deinitialize(count: 1)
        depth.deinitialize(count: 1)
        UnsafeMutableRawPointer(state.pointer).deallocate()
    }
}
