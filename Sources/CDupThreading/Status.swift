import CDupThreadingAPI
import DupThreading

/// The status codes of `dt_status` in include/dup_threading.h.
enum Status: Int32 {
    case ok = 0
    case invalidArgument = 1
    case badHandle = 2
    case notOwner = 3
    case notLocked = 4
    case busy = 5
    case timedOut = 6
    case interrupted = 7
    case alreadyCalled = 8
    case failed = 9
    case notSupported = 10
    case outOfMemory = 11
    case abandoned = 12

    init(_ error: DupThreadingError) {
        switch error {
        case .notOwner, .heldByOperation: self = .notOwner
        case .notLocked: self = .notLocked
        case .alreadyCalled: self = .alreadyCalled
        case .invalidTimeout, .invalidArgument: self = .invalidArgument
        case .timedOut: self = .timedOut
        case .interrupted: self = .interrupted
        case .notSupported: self = .notSupported
        case .abandoned: self = .abandoned
        }
    }

    init(_ outcome: WaitOutcome) {
        switch outcome {
        case .satisfied: self = .ok
        case .timedOut: self = .timedOut
        case .interrupted: self = .interrupted
        }
    }

    var message: StaticString {
        switch self {
        case .ok: return "success"
        case .invalidArgument: return "invalid argument (NULL pointer, bad timeout or count)"
        case .badHandle: return "handle of the wrong kind, or already freed"
        case .notOwner: return "the calling thread does not hold the lock"
        case .notLocked: return "release of a lock that nobody holds"
        case .busy: return "the lock is held, or the handle is in use"
        case .timedOut: return "the timeout passed"
        case .interrupted: return "the wait was interrupted"
        case .alreadyCalled: return "the async-split caller already ran"
        case .failed: return "the async function failed"
        case .notSupported: return "threading is not supported on this system"
        case .outOfMemory: return "out of memory"
        case .abandoned: return "the async-split caller was freed without running"
        }
    }
}

/// Runs a body that reports misuse by throwing, as a C status.
@inline(__always)
func status(_ body: () throws(DupThreadingError) -> Void) -> Int32 {
    do {
        try body()
        return Status.ok.rawValue
    } catch {
        return Status(error).rawValue
    }
}

extension Status: Error {
    /// The raw code, for returning from an exported function.
    @inline(__always)
    var cValue: Int32 { rawValue }
}

/// A C timeout in seconds as a Swift timeout: -1 and +infinity mean none;
/// other negative values and NaN are invalid.
func timeout(fromSeconds seconds: Double) -> Result<Duration?, Status> {
    if seconds == -1 || seconds == .infinity { return .success(nil) }
    guard !seconds.isNaN, seconds >= 0 else { return .failure(.invalidArgument) }
    let nanos = seconds * 1e9
    let duration: Duration = .nanoseconds(nanos >= 9.2e18 ? Int64.max : Int64(nanos))
    return .success(duration)
}

/// A C interrupt callback as an `InterruptHook`.
func interruptHook(
    _ fn: dt_interrupt_fn?, _ ctx: UnsafeMutableRawPointer?
) -> InterruptHook? {
    guard let fn else { return nil }
    return { fn(ctx) != 0 }
}

/// Waits through `wait` with a C timeout and interrupt callback, as a status.
func timedWait(
    _ seconds: Double,
    _ interrupt: dt_interrupt_fn?, _ ctx: UnsafeMutableRawPointer?,
    _ wait: (Duration?, InterruptHook?) throws(DupThreadingError) -> WaitOutcome
) -> Int32 {
    switch timeout(fromSeconds: seconds) {
    case .failure(let s): return s.cValue
    case .success(let t):
        do throws(DupThreadingError) {
            return Status(try wait(t, interruptHook(interrupt, ctx))).cValue
        } catch {
            return Status(error).cValue
        }
    }
}
