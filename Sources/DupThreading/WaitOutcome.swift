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
/// explicitly interrupted, and at the coarse safety interval
/// (`InterruptHookDefaults.safetyInterval`). Returns `true` to stop waiting.
///
/// The hook runs on the waiting thread, without the waited-on lock held. It
/// must not block for long; it may read flags, run signal handlers, or check a
/// cancellation state.
public typealias InterruptHook = () -> Bool

/// Tunables for interruptible waits.
public enum InterruptHookDefaults {
    /// How often an otherwise undisturbed interruptible wait consults its
    /// hook: every two seconds. This only bounds the rare case of a signal that
    /// lands between the hook's last check and the thread parking; every other
    /// disturbance is seen at once.
    public static let safetyInterval: Duration = .seconds(2)

    @usableFromInline
    static let safetyIntervalNanoseconds: UInt64 = 2_000_000_000
}
