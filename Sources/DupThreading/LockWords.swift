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
    /// The start of the line: every word is at a fixed offset from it, so
    /// reaching one costs no load beyond this pointer.
    @usableFromInline let base: UnsafeMutableRawPointer
    /// Uninitialized room for the payload, right after the words.
    @usableFromInline let payload: UnsafeMutableRawPointer

    /// 0 = unlocked, 1 = locked, 2 = locked and other threads may be parked.
    @inlinable
    var state: FutexWord {
        @inline(__always) get { FutexWord(existing: base.assumingMemoryBound(to: Atomic<UInt32>.self)) }
    }
    /// How many threads are in the slow path of an acquire (about to park,
    /// parked, or just woken): with `state`, what tells a free that the lock
    /// is still in use.
    @inlinable
    var acquiring: SharedWord32 {
        @inline(__always) get { SharedWord32((base + 4).assumingMemoryBound(to: Atomic<UInt32>.self)) }
    }
    /// The holder's thread ID (`currentThreadID()`), 0 when unlocked.
    @inlinable
    var owner: SharedWord64 {
        @inline(__always) get { SharedWord64((base + 8).assumingMemoryBound(to: Atomic<Int>.self)) }
    }
    /// How many times the holder holds a `RecursiveLock`.
    @inlinable
    var depth: SharedWord64 {
        @inline(__always) get { SharedWord64((base + 16).assumingMemoryBound(to: Atomic<Int>.self)) }
    }
    /// The level of a `RecursiveLock` that an operation in progress holds
    /// (see `acquirePinned`), 0 if none, with `borrowedFlag` set while a
    /// `Value.withLock` body has the value inout. Written and read only by
    /// the holder.
    @inlinable
    var pinned: SharedWord64 {
        @inline(__always) get { SharedWord64((base + 24).assumingMemoryBound(to: Atomic<Int>.self)) }
    }
    @usableFromInline static let borrowedFlag = 1 << 62

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
        let words = (line + 8).bindMemory(to: Atomic<Int>.self, capacity: 3)
        for i in 0..<3 { (words + i).initialize(to: Atomic(0)) }
        base = line
        payload = line + offset
    }

    private static func roundUp(_ n: Int, to alignment: Int) -> Int {
        (n + alignment - 1) / alignment * alignment
    }

    /// Frees the line. Only the owning lock calls this, from its `deinit`.
    @usableFromInline
    func deallocate() {
        state.pointer.deinitialize(count: 2)
        owner.pointer.deinitialize(count: 3)
        base.deallocate()
    }
}

// The lock algorithms, on the words themselves: `Lock`, `RecursiveLock` and
// `Value` (which keeps its own copy of its lock's `LockWords`) all run these,
// so that every operation reaches the line through one pointer.

extension LockWords {
    // ---- the plain lock ------------------------------------------------------------

    /// Takes the lock if it is free, without blocking, for the thread `me`.
    @inlinable @inline(__always)
    func tryAcquire(as me: Int) -> Bool {
        // Acquire ordering: everything the previous holder wrote before its
        // release is visible to us once we own the lock.
        if state.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged {
            owner.store(me, ordering: .relaxed)
            return true
        }
        return false
    }

    /// Blocks until the thread `me` holds the lock.
    @inlinable @inline(__always)
    func acquire(as me: Int) {
        if !tryAcquire(as: me) {
            _ = acquireSlow(deadline: .never, interrupt: nil)
        }
    }

    /// Blocks until the lock is held, the deadline passes or `interrupt`
    /// asks to stop.
    @usableFromInline
    func acquireSlow(deadline: Deadline, interrupt: InterruptHook?) -> WaitOutcome {
        _ = acquiring.wrappingAdd(1, ordering: .relaxed)
        // The last touch of the lock's memory: after it a free may proceed.
        defer { _ = acquiring.wrappingAdd(UInt32.max, ordering: .releasing) }
        // No spinning before parking (like glibc's default mutex): spinning
        // waiters pull the lock's cache line away from the holder, which
        // measured slower under contention on two cores.
        var schedule = HookSchedule(hasHook: interrupt != nil)
        // Already marked contended: park at once, without writing the word
        // (a write would pull the line away from the holder for nothing).
        var markedContended = state.load(ordering: .relaxed) == 2
        while true {
            // Mark the lock contended before parking. If it was free, we now
            // hold it (state 2 is conservative: the release will wake one
            // thread even if none is parked, which is harmless).
            if !markedContended, state.exchange(2, ordering: .acquiring) == 0 {
                owner.store(currentThreadID(), ordering: .relaxed)
                return .satisfied
            }
            markedContended = false
            if deadline.hasPassed { return .timedOut }
            switch state.park(whileEqualTo: 2, until: schedule.nextWake(deadline)) {
            case .woken:
                schedule.disturbed()
            case .signalled:
                schedule.disturbed()
                if let interrupt, interrupt() { return .interrupted }
            case .timedOut:
                // The real deadline is handled at the loop top (one last try);
                // otherwise this was a scheduled check: let the hook decide.
                if !deadline.hasPassed, let interrupt, interrupt() { return .interrupted }
            }
        }
    }

    /// Releases the lock for its holder, which knows it holds it.
    @inlinable @inline(__always)
    func unlock() {
        owner.store(0, ordering: .relaxed)
        unlockState()
    }

    /// Frees the state word, once the hold has been claimed (owner cleared).
    @inlinable @inline(__always)
    func unlockState() {
        // The word, taken before it is released: after the exchange a free may
        // proceed, so the wake must not read the lock's memory again (it only
        // passes the address to the kernel).
        let word = state
        // Release ordering: our writes under the lock happen-before the next
        // holder's acquire.
        if word.exchange(0, ordering: .releasing) == 2 {
            word.wake(1)
        }
    }

    // ---- the recursive lock -----------------------------------------------------------

    /// Whether the calling thread holds the lock.
    @inlinable
    var isOwnedByCurrentThread: Bool {
        @inline(__always) get { owner.load(ordering: .relaxed) == currentThreadID() }
    }

    /// Blocks until the calling thread holds the lock (once more).
    @inlinable @inline(__always)
    func recursiveAcquire() {
        let me = currentThreadID()
        if owner.load(ordering: .relaxed) == me {
            addLevel()
            return
        }
        acquire(as: me)
        depth.store(1, ordering: .relaxed)
    }

    /// Takes the lock (once more) if that needs no waiting. Returns whether it did.
    @inlinable @inline(__always)
    func recursiveTryAcquire() -> Bool {
        let me = currentThreadID()
        if owner.load(ordering: .relaxed) == me {
            addLevel()
            return true
        }
        guard tryAcquire(as: me) else { return false }
        depth.store(1, ordering: .relaxed)
        return true
    }

    /// One more level for the owner. Saturates at `Int.max`, which only a
    /// huge restored depth can reach: wrapping would make a release trap.
    /// Traps if the lock is a `Value`'s whose `withLock` body is running
    /// (the value is lent to that body inout; nothing may touch it).
    @inlinable @inline(__always)
    func addLevel() {
        if pinned.load(ordering: .relaxed) & LockWords.borrowedFlag != 0 {
            fatalError("DupThreading: a Value was used from inside its own withLock body, which has the value inout")
        }
        let d = depth.load(ordering: .relaxed)
        depth.store(d == .max ? d : d + 1, ordering: .relaxed)
    }

    /// Releases one level of the recursive lock. Throws `notOwner` if another
    /// thread holds it, `notLocked` if nobody does, and `heldByOperation` if
    /// the level belongs to an operation in progress.
    @inlinable
    func recursiveRelease() throws(DupThreadingError) {
        guard isOwnedByCurrentThread else {
            throw state.load(ordering: .relaxed) != 0 ? .notOwner : .notLocked
        }
        let pinnedLevel = pinned.load(ordering: .relaxed) & ~LockWords.borrowedFlag
        guard depth.load(ordering: .relaxed) > pinnedLevel else { throw .heldByOperation }
        releaseOwned()
    }

    /// Takes one more level on behalf of an operation of this module's
    /// (`Value.transform` and the like) and pins it: until `releasePinned`,
    /// a release refuses to release it, so the code the operation calls
    /// cannot release the lock under it. With `lending`, the operation lends
    /// the guarded value inout and any further use of the lock by this
    /// thread traps. Returns the previous pin, for `releasePinned`.
    @inlinable @inline(__always)
    func acquirePinned(lending: Bool = false) -> Int {
        recursiveAcquire()
        let previous = pinned.load(ordering: .relaxed)
        let level = depth.load(ordering: .relaxed)
        pinned.store(lending ? level | LockWords.borrowedFlag : level, ordering: .relaxed)
        return previous
    }

    /// Releases the level `acquirePinned` took and restores the previous pin.
    @inlinable @inline(__always)
    func releasePinned(restoring previous: Int) {
        pinned.store(previous, ordering: .relaxed)
        releaseOwned()
    }

    /// Releases one level; the calling thread must hold the lock.
    @inlinable @inline(__always)
    func releaseOwned() {
        let remaining = depth.load(ordering: .relaxed) - 1
        depth.store(remaining, ordering: .relaxed)
        if remaining == 0 { unlock() }
    }
}
