import CDupThreadingShims
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A 32-bit atomic word at a stable heap address, so that the kernel can park
/// threads on it (futex). Owned by the object that allocates it, which frees it
/// in its `deinit`; safe to use from any thread in between.
@usableFromInline
struct FutexWord: @unchecked Sendable {
    @usableFromInline
    let pointer: UnsafeMutablePointer<Atomic<UInt32>>

    @usableFromInline
    init(_ initial: UInt32) {
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: Atomic(initial))
    }

    /// A view of a word allocated elsewhere (see `LockWords`), which frees it.
    @usableFromInline
    init(existing pointer: UnsafeMutablePointer<Atomic<UInt32>>) {
        self.pointer = pointer
    }

    /// Frees the word. Only the owner calls this, once, when no thread can still use it.
    @usableFromInline
    func deallocate() {
        pointer.deinitialize(count: 1)
        pointer.deallocate()
    }

    /// How a park on the word ended.
    @usableFromInline
    enum ParkResult {
        /// Woken by `wake`, or the word no longer held the expected value.
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
        let r = pointer.withMemoryRebound(to: UInt32.self, capacity: 1) { word in
            if deadline == .distantFuture {
                return dupthreading_shim_futex_wait(word, expected, nil)
            }
            var spec = deadline.timespecValue
            return dupthreading_shim_futex_wait(word, expected, &spec)
        }
        switch r {
        case -ETIMEDOUT: return .timedOut
        case -EINTR: return .signalled
        default: return .woken
        }
    }

    /// Wakes at most `count` threads parked on the word.
    @usableFromInline
    func wake(_ count: Int32) {
        _ = pointer.withMemoryRebound(to: UInt32.self, capacity: 1) {
            dupthreading_shim_futex_wake($0, count)
        }
    }

    /// Wakes every thread parked on the word.
    @usableFromInline
    func wakeAll() { wake(Int32.max) }
}
