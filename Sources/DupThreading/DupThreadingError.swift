/// Every error the library itself throws. Misuse is always reported this way,
/// never by crashing. A value type: thread-safe.
public enum DupThreadingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The calling thread does not hold the lock it tried to release, wait on or notify.
    case notOwner
    /// The lock was not held at all when it was released.
    case notLocked
    /// The lock level belongs to an operation in progress: a `Value`
    /// released from inside its own `transform` (or `read`, `replace`,
    /// `withLock`), which holds that level until it returns.
    case heldByOperation
    /// An async-split caller was run a second time; the function ran only once.
    case alreadyCalled
    /// An async-split caller was destroyed without ever running, so no
    /// outcome will come; its waiters get this error instead of blocking forever.
    case abandoned
    /// A timeout was negative.
    case invalidTimeout(String)
    /// An argument was out of range.
    case invalidArgument(String)
    /// A blocking call gave up because its deadline passed.
    case timedOut
    /// A blocking call was interrupted (its interrupt hook asked it to stop,
    /// or the condition's waiters were interrupted).
    case interrupted
    /// Threading is required but not supported; the message carries the reason.
    case notSupported(String)

    /// A one-line human-readable explanation.
    public var description: String {
        switch self {
        case .notOwner: return "the calling thread does not hold this lock"
        case .notLocked: return "release of an unlocked lock"
        case .heldByOperation: return "this lock level belongs to an operation in progress (a Value released inside its own transform)"
        case .alreadyCalled: return "the async-split caller was already run; the function runs only once"
        case .abandoned: return "the async-split caller was destroyed without running"
        case .invalidTimeout(let why): return "invalid timeout: \(why)"
        case .invalidArgument(let why): return "invalid argument: \(why)"
        case .timedOut: return "the wait timed out"
        case .interrupted: return "the wait was interrupted"
        case .notSupported(let why): return why
        }
    }
}
