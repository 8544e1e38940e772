// The seam of deterministic-schedule testing (Tests/DupThreadingTests/Deterministic).
//
// In a debug build (DUPTHREADING_SCHEDULE, set by Package.swift for the debug
// configuration only) every operation on a shared word, every futex park and
// wake and every clock read first asks the calling thread's schedule, if it
// has one. A test's scheduler runs exactly one of its threads at a time and
// picks which one goes next, turns parks into scheduler waits and runs time
// virtually, so that a scenario is driven through thousands of orderings of
// its atomic steps. Threads without a schedule (every thread outside those
// tests) pay one relaxed load per operation. A release build compiles none of
// this: `schedulePoint()` is empty and the hooks do not exist.

import CDupThreadingShims

#if DUPTHREADING_SCHEDULE
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// What a deterministic scheduler provides to the core, for the threads it
/// runs. Called only on a thread that the scheduler runs, while it runs it.
@usableFromInline
protocol ScheduleHooks: AnyObject {
    /// Before each operation on the shared word at `address` (nil: a point
    /// of the test's own): returns when this thread may go on.
    func point(_ address: UnsafeRawPointer?)
    /// A futex wait: parks while `word` holds `expected`, until woken, until
    /// the virtual `deadline`, or until the scheduler delivers a signal.
    func park(_ word: UnsafeMutableRawPointer, expected: UInt32, deadline: MonotonicInstant) -> FutexWord.ParkResult
    /// A futex wake of at most `count` threads parked on `word`.
    func wake(_ word: UnsafeMutableRawPointer, count: Int32)
    /// The virtual monotonic clock.
    func now() -> MonotonicInstant
    /// One turn of a busy-wait loop: lets another thread run.
    func spinPause()
}

/// Which schedule, if any, the calling thread runs under.
@usableFromInline
enum ScheduleContext {
    /// How many threads have a schedule installed: when 0, no lookup is made.
    @usableFromInline static let installed = Atomic<Int>(0)

    private final class Box {
        let hooks: any ScheduleHooks
        init(_ hooks: any ScheduleHooks) { self.hooks = hooks }
    }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create failed")
        return key
    }()

    /// The calling thread's schedule.
    @usableFromInline
    static var current: (any ScheduleHooks)? {
        guard installed.load(ordering: .relaxed) != 0, let raw = pthread_getspecific(key) else { return nil }
        return Unmanaged<Box>.fromOpaque(raw).takeUnretainedValue().hooks
    }

    /// Runs the calling thread under `hooks` (nil: under none) from now on.
    static func install(_ hooks: (any ScheduleHooks)?) {
        if let old = pthread_getspecific(key) {
            Unmanaged<Box>.fromOpaque(old).release()
            installed.wrappingSubtract(1, ordering: .relaxed)
        }
        guard let hooks else {
            pthread_setspecific(key, nil)
            return
        }
        installed.wrappingAdd(1, ordering: .relaxed)
        pthread_setspecific(key, Unmanaged.passRetained(Box(hooks)).toOpaque())
    }
}
#endif

/// A scheduling point before an operation on the shared word at `address`:
/// in the deterministic-schedule build, lets the calling thread's scheduler
/// run another thread first (and check that the word is still alive). Empty
/// in every other build.
@inlinable @inline(__always)
func schedulePoint(_ address: UnsafeRawPointer) {
    #if DUPTHREADING_SCHEDULE
    ScheduleContext.current?.point(address)
    #endif
}

/// One turn of a busy-wait loop: under a schedule, lets another thread run;
/// otherwise yields the processor.
@usableFromInline
func spinPause() {
    #if DUPTHREADING_SCHEDULE
    if let hooks = ScheduleContext.current {
        hooks.spinPause()
        return
    }
    #endif
    dupthreading_shim_yield()
}
