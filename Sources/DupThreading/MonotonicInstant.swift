import CDupThreadingShims

/// A point on the monotonic clock, in nanoseconds. A value type: thread-safe.
@usableFromInline
struct MonotonicInstant: Comparable, Sendable {
    @usableFromInline
    var nanoseconds: UInt64

    @usableFromInline
    init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    /// The current time.
    @usableFromInline
    static func now() -> MonotonicInstant {
        #if DUPTHREADING_SCHEDULE
        if let hooks = ScheduleContext.current { return hooks.now() }
        #endif
        return MonotonicInstant(nanoseconds: dupthreading_shim_monotonic_ns())
    }

    /// Far enough in the future to mean "never" (about 292 years).
    @usableFromInline
    static let distantFuture = MonotonicInstant(nanoseconds: UInt64(Int64.max))

    /// `self` moved `nanos` later, saturating at `distantFuture`.
    @usableFromInline
    func advanced(by nanos: UInt64) -> MonotonicInstant {
        let (sum, overflow) = nanoseconds.addingReportingOverflow(nanos)
        return overflow || sum > MonotonicInstant.distantFuture.nanoseconds
            ? .distantFuture : MonotonicInstant(nanoseconds: sum)
    }

    @usableFromInline
    static func < (a: MonotonicInstant, b: MonotonicInstant) -> Bool { a.nanoseconds < b.nanoseconds }
}

/// When a blocking call gives up: a deadline computed once from a timeout, so
/// that retries after a wake-up or a signal do not extend the total wait.
@usableFromInline
struct Deadline: Sendable {
    /// The instant at which the wait times out; `distantFuture` for no timeout.
    @usableFromInline
    let instant: MonotonicInstant

    /// A deadline `timeout` from now; `nil` means no timeout.
    /// Throws `invalidTimeout` for a negative timeout.
    @usableFromInline
    init(timeout: Duration?) throws(DupThreadingError) {
        guard let timeout else {
            instant = .distantFuture
            return
        }
        instant = MonotonicInstant.now().advanced(by: try Deadline.nanoseconds(of: timeout))
    }

    @usableFromInline
    init(instant: MonotonicInstant) { self.instant = instant }

    /// A deadline that never passes.
    @usableFromInline
    static let never = Deadline(instant: .distantFuture)

    /// Whether the deadline has passed. A deadline that never passes does
    /// not read the clock.
    @usableFromInline
    var hasPassed: Bool { instant != .distantFuture && MonotonicInstant.now() >= instant }

    /// The next instant a parked thread wakes on its own: the deadline, or the
    /// safety interval from now if that comes first.
    @usableFromInline
    func nextWake(safetyInterval: UInt64) -> MonotonicInstant {
        Swift.min(instant, MonotonicInstant.now().advanced(by: safetyInterval))
    }

    /// Non-negative nanoseconds in `duration`, saturating; throws for a negative one.
    static func nanoseconds(of duration: Duration) throws(DupThreadingError) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0, attoseconds >= 0 else {
            throw .invalidTimeout("a timeout must not be negative, got \(duration)")
        }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        let (total, carry) = whole.addingReportingOverflow(UInt64(attoseconds / 1_000_000_000))
        // Saturate: a timeout too long to represent means "never" in effect.
        return overflow || carry ? UInt64(Int64.max) : Swift.min(total, UInt64(Int64.max))
    }
}
