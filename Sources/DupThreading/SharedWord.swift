import Synchronization

// Atomic words at stable addresses that several threads use: a lock's state,
// holder and depth, a wait node's signal, a split's phase. Every operation on
// them is a scheduling point of the deterministic-schedule build (see
// `ScheduleHooks`), so that the tests can interleave threads between any two
// of them; in every other build it is exactly the atomic operation.
//
// The atomic operations require their ordering as a constant, so each
// wrapper spells out the orderings the core uses; at every call site the
// ordering is a constant and the optimizer keeps one branch. An ordering the
// core does not use is a programming error (it traps in debug builds).
//
// Each is a view: the memory belongs to whoever allocated it (`allocate`,
// `LockWords`, a wait), which frees it when no thread can still use it.
// Safe to use from any thread in between.

/// A shared atomic `UInt32`: a futex word, or a flag word.
@usableFromInline
struct SharedWord32: @unchecked Sendable {
    @usableFromInline
    let pointer: UnsafeMutablePointer<Atomic<UInt32>>

    @inlinable @inline(__always)
    init(_ pointer: UnsafeMutablePointer<Atomic<UInt32>>) { self.pointer = pointer }

    /// Allocates a word holding `initial`; free it with `deallocate()`.
    @usableFromInline
    static func allocate(_ initial: UInt32) -> SharedWord32 {
        let pointer = UnsafeMutablePointer<Atomic<UInt32>>.allocate(capacity: 1)
        pointer.initialize(to: Atomic(initial))
        return SharedWord32(pointer)
    }

    /// Frees a word from `allocate`. Only its owner calls this, once, when
    /// no thread can still use it.
    @usableFromInline
    func deallocate() {
        pointer.deinitialize(count: 1)
        pointer.deallocate()
    }

    @inlinable @inline(__always)
    func load(ordering: AtomicLoadOrdering) -> UInt32 {
        schedulePoint(pointer)
        if ordering == .relaxed { return pointer.pointee.load(ordering: .relaxed) }
        if ordering == .acquiring { return pointer.pointee.load(ordering: .acquiring) }
        assert(ordering == .sequentiallyConsistent)
        return pointer.pointee.load(ordering: .sequentiallyConsistent)
    }

    @inlinable @inline(__always)
    func store(_ value: UInt32, ordering: AtomicStoreOrdering) {
        schedulePoint(pointer)
        if ordering == .relaxed { return pointer.pointee.store(value, ordering: .relaxed) }
        if ordering == .releasing { return pointer.pointee.store(value, ordering: .releasing) }
        assert(ordering == .sequentiallyConsistent)
        pointer.pointee.store(value, ordering: .sequentiallyConsistent)
    }

    @inlinable @inline(__always)
    func exchange(_ value: UInt32, ordering: AtomicUpdateOrdering) -> UInt32 {
        schedulePoint(pointer)
        if ordering == .relaxed { return pointer.pointee.exchange(value, ordering: .relaxed) }
        if ordering == .acquiring { return pointer.pointee.exchange(value, ordering: .acquiring) }
        if ordering == .releasing { return pointer.pointee.exchange(value, ordering: .releasing) }
        if ordering == .acquiringAndReleasing { return pointer.pointee.exchange(value, ordering: .acquiringAndReleasing) }
        assert(ordering == .sequentiallyConsistent)
        return pointer.pointee.exchange(value, ordering: .sequentiallyConsistent)
    }

    @inlinable @inline(__always)
    func compareExchange(expected: UInt32, desired: UInt32, ordering: AtomicUpdateOrdering) -> (exchanged: Bool, original: UInt32) {
        schedulePoint(pointer)
        let p = pointer
        if ordering == .relaxed { return p.pointee.compareExchange(expected: expected, desired: desired, ordering: .relaxed) }
        if ordering == .acquiring { return p.pointee.compareExchange(expected: expected, desired: desired, ordering: .acquiring) }
        if ordering == .releasing { return p.pointee.compareExchange(expected: expected, desired: desired, ordering: .releasing) }
        if ordering == .acquiringAndReleasing {
            return p.pointee.compareExchange(expected: expected, desired: desired, ordering: .acquiringAndReleasing)
        }
        assert(ordering == .sequentiallyConsistent)
        return p.pointee.compareExchange(expected: expected, desired: desired, ordering: .sequentiallyConsistent)
    }

    /// Adds `operand` (wrapping) and returns the previous value.
    @inlinable @inline(__always)
    func wrappingAdd(_ operand: UInt32, ordering: AtomicUpdateOrdering) -> UInt32 {
        schedulePoint(pointer)
        if ordering == .relaxed { return pointer.pointee.wrappingAdd(operand, ordering: .relaxed).oldValue }
        if ordering == .acquiring { return pointer.pointee.wrappingAdd(operand, ordering: .acquiring).oldValue }
        if ordering == .releasing { return pointer.pointee.wrappingAdd(operand, ordering: .releasing).oldValue }
        if ordering == .acquiringAndReleasing {
            return pointer.pointee.wrappingAdd(operand, ordering: .acquiringAndReleasing).oldValue
        }
        assert(ordering == .sequentiallyConsistent)
        return pointer.pointee.wrappingAdd(operand, ordering: .sequentiallyConsistent).oldValue
    }
}

extension SharedWord32 {
    /// Sets the bits of `mask` and returns the previous value.
    @inlinable @inline(__always)
    func bitwiseOr(_ mask: UInt32, ordering: AtomicUpdateOrdering) -> UInt32 {
        schedulePoint(pointer)
        if ordering == .relaxed { return pointer.pointee.bitwiseOr(mask, ordering: .relaxed).oldValue }
        assert(ordering == .releasing)
        return pointer.pointee.bitwiseOr(mask, ordering: .releasing).oldValue
    }

    /// Clears the bits not in `mask` and returns the previous value.
    @inlinable @inline(__always)
    func bitwiseAnd(_ mask: UInt32, ordering: AtomicUpdateOrdering) -> UInt32 {
        schedulePoint(pointer)
        if ordering == .relaxed { return pointer.pointee.bitwiseAnd(mask, ordering: .relaxed).oldValue }
        assert(ordering == .acquiring)
        return pointer.pointee.bitwiseAnd(mask, ordering: .acquiring).oldValue
    }
}

/// A shared atomic `Int`: a thread ID (as its bit pattern), a depth or a count.
@usableFromInline
struct SharedWord64: @unchecked Sendable {
    @usableFromInline
    let pointer: UnsafeMutablePointer<Atomic<Int>>

    @inlinable @inline(__always)
    init(_ pointer: UnsafeMutablePointer<Atomic<Int>>) { self.pointer = pointer }

    /// Allocates a word holding `initial`; free it with `deallocate()`.
    @usableFromInline
    static func allocate(_ initial: Int) -> SharedWord64 {
        let pointer = UnsafeMutablePointer<Atomic<Int>>.allocate(capacity: 1)
        pointer.initialize(to: Atomic(initial))
        return SharedWord64(pointer)
    }

    /// Frees a word from `allocate`. Only its owner calls this, once, when
    /// no thread can still use it.
    @usableFromInline
    func deallocate() {
        pointer.deinitialize(count: 1)
        pointer.deallocate()
    }

    @inlinable @inline(__always)
    func load(ordering: AtomicLoadOrdering) -> Int {
        schedulePoint(pointer)
        if ordering == .relaxed { return pointer.pointee.load(ordering: .relaxed) }
        if ordering == .acquiring { return pointer.pointee.load(ordering: .acquiring) }
        assert(ordering == .sequentiallyConsistent)
        return pointer.pointee.load(ordering: .sequentiallyConsistent)
    }

    @inlinable @inline(__always)
    func store(_ value: Int, ordering: AtomicStoreOrdering) {
        schedulePoint(pointer)
        if ordering == .relaxed { return pointer.pointee.store(value, ordering: .relaxed) }
        if ordering == .releasing { return pointer.pointee.store(value, ordering: .releasing) }
        assert(ordering == .sequentiallyConsistent)
        pointer.pointee.store(value, ordering: .sequentiallyConsistent)
    }

    @inlinable @inline(__always)
    func exchange(_ value: Int, ordering: AtomicUpdateOrdering) -> Int {
        schedulePoint(pointer)
        if ordering == .relaxed { return pointer.pointee.exchange(value, ordering: .relaxed) }
        if ordering == .acquiring { return pointer.pointee.exchange(value, ordering: .acquiring) }
        if ordering == .releasing { return pointer.pointee.exchange(value, ordering: .releasing) }
        if ordering == .acquiringAndReleasing { return pointer.pointee.exchange(value, ordering: .acquiringAndReleasing) }
        assert(ordering == .sequentiallyConsistent)
        return pointer.pointee.exchange(value, ordering: .sequentiallyConsistent)
    }

    @inlinable @inline(__always)
    func compareExchange(expected: Int, desired: Int, ordering: AtomicUpdateOrdering) -> (exchanged: Bool, original: Int) {
        schedulePoint(pointer)
        let p = pointer
        if ordering == .relaxed { return p.pointee.compareExchange(expected: expected, desired: desired, ordering: .relaxed) }
        if ordering == .acquiring { return p.pointee.compareExchange(expected: expected, desired: desired, ordering: .acquiring) }
        if ordering == .releasing { return p.pointee.compareExchange(expected: expected, desired: desired, ordering: .releasing) }
        if ordering == .acquiringAndReleasing {
            return p.pointee.compareExchange(expected: expected, desired: desired, ordering: .acquiringAndReleasing)
        }
        assert(ordering == .sequentiallyConsistent)
        return p.pointee.compareExchange(expected: expected, desired: desired, ordering: .sequentiallyConsistent)
    }

    /// Adds `operand` (wrapping) and returns the previous value.
    @inlinable @inline(__always)
    func wrappingAdd(_ operand: Int, ordering: AtomicUpdateOrdering) -> Int {
        schedulePoint(pointer)
        if ordering == .relaxed { return pointer.pointee.wrappingAdd(operand, ordering: .relaxed).oldValue }
        if ordering == .acquiring { return pointer.pointee.wrappingAdd(operand, ordering: .acquiring).oldValue }
        if ordering == .releasing { return pointer.pointee.wrappingAdd(operand, ordering: .releasing).oldValue }
        if ordering == .acquiringAndReleasing {
            return pointer.pointee.wrappingAdd(operand, ordering: .acquiringAndReleasing).oldValue
        }
        assert(ordering == .sequentiallyConsistent)
        return pointer.pointee.wrappingAdd(operand, ordering: .sequentiallyConsistent).oldValue
    }
}
