/// How a blocking call that can time out or be interrupted ended.
/// A value type: thread-safe.
public enum WaitOutcome: Equatable, Sendable {
    /// What was waited for happened: the lock was acquired, the condition was
    /// notified, the predicate became true, or the result arrived.
    case satisfied
    /// The deadline passed first.
    case timedOut
    /// The interrupt hook asked the wait to stop (or, with no hook, the
    /// condition's waiters were explicitly interrupted).
    case interrupted
}

/// Consulted by a blocking call when its wait is disturbed: when a signal
/// handler ran on the waiting thread, when the condition's waiters were
/// explicitly interrupted, and when the wait wakes on its own to check
/// (`InterruptHookDefaults`). Returns `true` to stop waiting.
///
/// The hook runs on the waiting thread, without the waited-on lock held. It
/// must not block for long; it may read flags, run signal handlers, or check a
/// cancellation state.
public typealias InterruptHook = () -> Bool

/// Tunables for interruptible waits.
public enum InterruptHookDefaults {
    /// When an interruptible wait consults its hook after it parks, and after
    /// every wake-up that sends it back to park: 25 ms. This catches a signal
    /// that landed between the caller's last check and the thread parking
    /// (nothing wakes the thread for that one); a signal that lands while it
    /// is parked is seen at once.
    public static let firstCheck: Duration = .milliseconds(25)

    /// How often an undisturbed interruptible wait consults its hook after
    /// that check: every two seconds, a backstop that costs nothing.
    public static let safetyInterval: Duration = .seconds(2)

    @usableFromInline
    static let firstCheckNanoseconds: UInt64 = 25_000_000

    @usableFromInline
    static let safetyIntervalNanoseconds: UInt64 = 2_000_000_000
}

/// When a parked thread wakes on its own to consult its interrupt hook: never
/// without a hook; with one, `firstCheck` after the first park and after
/// every wake-up (a notify, a release, an interruption, a signal, a spurious
/// wake-up: a signal may land between the wake-up and the next park, and
/// nothing wakes the thread for that one), and `safetyInterval` after a park
/// that ended with a scheduled check. A value owned by one wait: not shared
/// between threads.
@usableFromInline
struct HookSchedule {
    @usableFromInline let hasHook: Bool
    @usableFromInline var checkSoon = true

    @usableFromInline
    init(hasHook: Bool) { self.hasHook = hasHook }

    /// The instant the next park ends at the latest.
    @usableFromInline
    mutating func nextWake(_ deadline: Deadline) -> MonotonicInstant {
        guard hasHook else { return deadline.instant }
        defer { checkSoon = false }
        return deadline.nextWake(safetyInterval: checkSoon
            ? InterruptHookDefaults.firstCheckNanoseconds : InterruptHookDefaults.safetyIntervalNanoseconds)
    }

    /// The park ended for a reason other than a scheduled check: the next
    /// one checks again after `firstCheck`.
    @usableFromInline
    mutating func disturbed() { checkSoon = true }
}
