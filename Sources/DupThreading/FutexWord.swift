import CDupThreadingShims
import Synchronization

/// A 32-bit shared word that threads can park on (futex). Owned by the object
/// that allocates it (`FutexWord(_:)`, freed with `deallocate()`) or a view of
/// a word allocated elsewhere; safe to use from any thread in between.
@usableFromInline
struct FutexWord: @unchecked Sendable {
    /// The word's atomic operations (each a scheduling point under test).
    @usableFromInline
    let word: SharedWord32

    @usableFromInline
    var pointer: UnsafeMutablePointer<Atomic<UInt32>> { word.pointer }

    /// Allocates a word holding `initial`; free it with `deallocate()`.
    @usableFromInline
    init(_ initial: UInt32) { word = .allocate(initial) }

    /// A view of a word allocated elsewhere, which frees it.
    @inlinable @inline(__always)
    init(existing pointer: UnsafeMutablePointer<Atomic<UInt32>>) { word = SharedWord32(pointer) }

    /// Frees a word allocated by `init(_:)`. Only the owner calls this, once,
    /// when no thread can still use it.
    @usableFromInline
    func deallocate() { word.deallocate() }

    @inlinable @inline(__always)
    func load(ordering: AtomicLoadOrdering) -> UInt32 { word.load(ordering: ordering) }

    @inlinable @inline(__always)
    func store(_ value: UInt32, ordering: AtomicStoreOrdering) { word.store(value, ordering: ordering) }

    @inlinable @inline(__always)
    func exchange(_ value: UInt32, ordering: AtomicUpdateOrdering) -> UInt32 {
        word.exchange(value, ordering: ordering)
    }

    @inlinable @inline(__always)
    func compareExchange(
        expected: UInt32, desired: UInt32, ordering: AtomicUpdateOrdering
    ) -> (exchanged: Bool, original: UInt32) {
        word.compareExchange(expected: expected, desired: desired, ordering: ordering)
    }

    @inlinable @inline(__always)
    func wrappingAdd(_ operand: UInt32, ordering: AtomicUpdateOrdering) -> UInt32 {
        word.wrappingAdd(operand, ordering: ordering)
    }

    /// How a park on the word ended.
    @usableFromInline
    enum ParkResult {
        /// Woken by `wake`, or the word no longer held the expected value, or
        /// (rarely) for no reason at all: callers re-check their state.
        case woken
        /// The deadline passed.
        case timedOut
        /// A signal handler ran on this thread.
        case signalled
    }

    /// Parks the calling thread while the word still equals `expected`, until
    /// woken, until `deadline`, or until a signal handler runs on this thread.
    /// May also return `.woken` spuriously: callers re-check their state.
    ///
    /// With no deadline (`distantFuture`) the kernel arms no timer, and it
    /// restarts the wait by itself after a handler installed with SA_RESTART:
    /// callers that must see signals always park with a real deadline
    /// (`HookSchedule` gives one whenever there is an interrupt hook).
    @usableFromInline
    func park(whileEqualTo expected: UInt32, until deadline: MonotonicInstant) -> ParkResult {
        #if DUPTHREADING_SCHEDULE
        if let hooks = ScheduleContext.current {
            return hooks.park(UnsafeMutableRawPointer(pointer), expected: expected, deadline: deadline)
        }
        #endif
        let until = deadline == .distantFuture ? UInt64.max : deadline.nanoseconds
        let r = pointer.withMemoryRebound(to: UInt32.self, capacity: 1) { word in
            dupthreading_shim_futex_wait(word, expected, until)
        }
        switch r {
        case Int32(DUPTHREADING_SHIM_TIMED_OUT): return .timedOut
        case Int32(DUPTHREADING_SHIM_INTERRUPTED): return .signalled
        default: return .woken
        }
    }

    /// Wakes at most `count` threads parked on the word. The word's memory
    /// may already have been reused by then: a wake on an address nobody
    /// parks on does nothing, and one that reaches another word's waiter is a
    /// spurious wake-up, which every park tolerates.
    @usableFromInline
    func wake(_ count: Int32) {
        #if DUPTHREADING_SCHEDULE
        if let hooks = ScheduleContext.current {
            hooks.wake(UnsafeMutableRawPointer(pointer), count: count)
            return
        }
        #endif
        _ = pointer.withMemoryRebound(to: UInt32.self, capacity: 1) {
            dupthreading_shim_futex_wake($0, count)
        }
    }

    /// Wakes every thread parked on the word.
    @usableFromInline
    func wakeAll() { wake(Int32.max) }
}
