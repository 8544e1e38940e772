/// Splits calling `fn` into a waiter half and a caller half, like duplicity's
/// `async_split`: run `caller` on any thread (typically a worker) and call
/// `waiter` from any number of threads to get `fn`'s result or its error.
///
/// Thread-safe. The two halves share ownership of the outcome; it lives as long
/// as either half. `fn` is released once it has run.
public func asyncSplit<T>(_ fn: @escaping () throws -> T) -> (waiter: AsyncWaiter<T>, caller: AsyncCaller<T>) {
    let waiter = AsyncWaiter<T>()
    return (waiter, AsyncCaller(fn: fn, waiter: waiter))
}

/// The back-end half of `asyncSplit`: runs the function, once.
///
/// Thread-safe: if several threads call it, exactly one runs the function and
/// the others get `DupThreadingError.alreadyCalled`. If the caller is destroyed
/// without having run, its waiters get `DupThreadingError.abandoned`.
public final class AsyncCaller<T>: @unchecked Sendable {
    private let slot: Slot
    /// The waiter that reports this caller's outcome.
    public let waiter: AsyncWaiter<T>

    private final class Slot: @unchecked Sendable {
        // Taken exactly once, by the thread that wins `waiter.claim()`.
        var fn: (() throws -> T)?
        init(_ fn: @escaping () throws -> T) { self.fn = fn }
    }

    init(fn: @escaping () throws -> T, waiter: AsyncWaiter<T>) {
        slot = Slot(fn)
        self.waiter = waiter
    }

    // A caller that never ran tells its waiters so, instead of leaving them
    // blocked forever.
    deinit {
        if waiter.claim() { waiter.publish(.failure(DupThreadingError.abandoned)) }
    }

    /// Runs the function on the calling thread, publishes its outcome to every
    /// waiter, and returns whether it succeeded (did not throw) together with
    /// the waiter. Throws `alreadyCalled` if the caller already ran.
    @discardableResult
    public func callAsFunction() throws(DupThreadingError) -> (success: Bool, waiter: AsyncWaiter<T>) {
        guard waiter.claim(), let fn = slot.fn else { throw .alreadyCalled }
        slot.fn = nil
        let outcome: Result<T, any Error>
        do {
            outcome = .success(try fn())
        } catch {
            outcome = .failure(error)
        }
        waiter.publish(outcome)
        if case .success = outcome { return (true, waiter) }
        return (false, waiter)
    }
}

/// The front-end half of `asyncSplit`: waits for the function's outcome.
///
/// Thread-safe: any number of threads may wait, any number of times, and all
/// see the same outcome. Waiting parks the thread (no polling) and can be
/// bounded by a timeout and interrupted through an `InterruptHook`.
public final class AsyncWaiter<T>: @unchecked Sendable {
    // 0 = not started, 1 = running, 2 = done; bit 4 = a waiter may be parked.
    private let state = FutexWord(0)
    private static var notStarted: UInt32 { 0 }
    private static var running: UInt32 { 1 }
    private static var done: UInt32 { 2 }
    private static var parkedFlag: UInt32 { 4 }
    // Written once before `state` becomes done; immutable afterwards.
    private var outcome: Result<T, any Error>?

    init() {}

    deinit { state.deallocate() }

    /// Whether the outcome is already available (a snapshot).
    public var isDone: Bool { state.pointer.pointee.load(ordering: .acquiring) & 3 == Self.done }

    /// Blocks until the function has run, then returns its result or rethrows its error.
    public func callAsFunction() throws -> T {
        try waitForResult(timeout: nil, interrupt: nil).get()
    }

    /// Blocks until the function has run, the timeout passes (`nil`: never), or
    /// `interrupt` says stop. Returns the function's outcome; throws `timedOut`,
    /// `interrupted`, or `invalidTimeout` for a negative timeout.
    public func waitForResult(
        timeout: Duration?, interrupt: InterruptHook?
    ) throws(DupThreadingError) -> Result<T, any Error> {
        // Validate the timeout first: a negative timeout is an error even
        // when the outcome is already available.
        let deadline = try Deadline(timeout: timeout)
        if let outcome = finishedOutcome() { return outcome }
        let slice = interrupt == nil ? UInt64.max : InterruptHookDefaults.safetyIntervalNanoseconds
        while true {
            let s = state.pointer.pointee.load(ordering: .acquiring)
            if s & 3 == Self.done { return outcome! }
            // A zero (or elapsed) timeout polls without parking.
            if deadline.hasPassed { throw .timedOut }
            if s & Self.parkedFlag == 0,
               !state.pointer.pointee.compareExchange(expected: s, desired: s | Self.parkedFlag, ordering: .relaxed).exchanged {
                continue
            }
            switch state.park(whileEqualTo: s | Self.parkedFlag, until: deadline.nextWake(safetyInterval: slice)) {
            case .woken:
                continue
            case .signalled:
                if let interrupt, interrupt() { throw .interrupted }
            case .timedOut:
                if isDone { continue }
                if deadline.hasPassed { throw .timedOut }
                if let interrupt, interrupt() { throw .interrupted }
            }
        }
    }

    /// The outcome if the function has finished, without blocking.
    public func finishedOutcome() -> Result<T, any Error>? {
        // Acquire ordering pairs with the release in `publish`: seeing "done"
        // means seeing the outcome written before it.
        isDone ? outcome : nil
    }

    /// Marks the function as running; false if it was already started.
    func claim() -> Bool {
        state.pointer.pointee.compareExchange(expected: Self.notStarted, desired: Self.running, ordering: .relaxed).exchanged
            || state.pointer.pointee.compareExchange(
                expected: Self.notStarted | Self.parkedFlag,
                desired: Self.running | Self.parkedFlag, ordering: .relaxed).exchanged
    }

    /// Stores the outcome and wakes every parked waiter.
    func publish(_ result: Result<T, any Error>) {
        outcome = result
        if state.pointer.pointee.exchange(Self.done, ordering: .releasing) & Self.parkedFlag != 0 {
            state.wakeAll()
        }
    }
}
