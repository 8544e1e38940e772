import Synchronization

/// `asyncSplit` for a function with a typed error: its waiters get
/// `Result<T, Failure>`, and a caller destroyed without having run publishes
/// `.failure(abandoned())`. (`asyncSplit(_:)` is this with `any Error` and
/// `DupThreadingError.abandoned`.)
///
/// Thread-safe, with the same ownership as `asyncSplit(_:)`.
@inlinable
public func asyncSplit<T: Sendable, Failure: Error>(
    abandoned: @escaping @Sendable () -> Failure,
    _ fn: @escaping @Sendable () throws(Failure) -> T
) -> (waiter: AsyncSplitWaiter<T, Failure>, caller: AsyncSplitCaller<T, Failure>) {
    let waiter = AsyncSplitWaiter<T, Failure>()
    return (waiter, AsyncSplitCaller(fn: fn, waiter: waiter, abandoned: abandoned))
}

/// The back-end half of an async split: runs the function, once.
///
/// Thread-safe: if several threads call it, exactly one runs the function and
/// the others get `DupThreadingError.alreadyCalled`. If the caller is destroyed
/// without having run, its waiters get the split's abandonment error
/// (`DupThreadingError.abandoned` for `asyncSplit(_:)`).
public final class AsyncSplitCaller<T: Sendable, Failure: Error>: @unchecked Sendable {
    // Taken exactly once, by the thread that wins `waiter.claim()`.
    @exclusivity(unchecked) @usableFromInline var fn: (@Sendable () throws(Failure) -> T)?
    /// What the waiters get if this caller is destroyed without having run.
    @usableFromInline let abandoned: @Sendable () -> Failure
    /// The waiter that reports this caller's outcome.
    public let waiter: AsyncSplitWaiter<T, Failure>

    @inlinable
    init(
        fn: @escaping @Sendable () throws(Failure) -> T, waiter: AsyncSplitWaiter<T, Failure>,
        abandoned: @escaping @Sendable () -> Failure
    ) {
        self.fn = fn
        self.waiter = waiter
        self.abandoned = abandoned
    }

    // A caller that never ran tells its waiters so, instead of leaving them
    // blocked forever.
    deinit {
        if waiter.claim() { waiter.publish(.failure(abandoned())) }
    }

    /// Runs the function on the calling thread, publishes its outcome to every
    /// waiter, and returns whether it succeeded (did not throw) together with
    /// the waiter. Throws `alreadyCalled` if the caller already ran.
    @inlinable
    @discardableResult
    public func callAsFunction() throws(DupThreadingError) -> (success: Bool, waiter: AsyncSplitWaiter<T, Failure>) {
        guard waiter.claim(), let fn else { throw .alreadyCalled }
        self.fn = nil
        let outcome: Result<T, Failure>
        do throws(Failure) {
            outcome = .success(try fn())
        } catch {
            outcome = .failure(error)
        }
        let success: Bool
        if case .success = outcome { success = true } else { success = false }
        waiter.publish(outcome)
        return (success, waiter)
    }
}

/// The front-end half of an async split: waits for the function's outcome.
///
/// Thread-safe: any number of threads may wait, any number of times, and all
/// see the same outcome. Waiting parks the thread (no polling) and can be
/// bounded by a timeout and interrupted through an `InterruptHook`.
public final class AsyncSplitWaiter<T: Sendable, Failure: Error>: @unchecked Sendable {
    @usableFromInline let state = FutexWord(AsyncSplitState.notStarted)
    // Written once, before `state` becomes done; immutable afterwards.
    @exclusivity(unchecked) @usableFromInline var outcome: Result<T, Failure>?

    @inlinable
    init() {}

    deinit { state.deallocate() }

    /// Whether the outcome is already available (a snapshot).
    @inlinable
    public var isDone: Bool {
        // Acquire ordering pairs with the release in `publish`: seeing "done"
        // means seeing the outcome written before it.
        state.load(ordering: .acquiring) & AsyncSplitState.phaseMask == AsyncSplitState.done
    }

    /// Blocks until the function has run, the timeout passes (`nil`: never), or
    /// `interrupt` says stop. Returns the function's outcome; throws `timedOut`,
    /// `interrupted`, or `invalidTimeout` for a negative timeout (even when the
    /// outcome is already available). A zero timeout polls without blocking.
    @inlinable
    public func waitForResult(
        timeout: Duration?, interrupt: InterruptHook?
    ) throws(DupThreadingError) -> Result<T, Failure> {
        let deadline = try Deadline(timeout: timeout)
        if !isDone {
            try parkUntilDone(state, deadline: deadline, interrupt: interrupt)
        }
        return outcome!
    }

    /// The outcome if the function has finished, without blocking.
    @inlinable
    public func finishedOutcome() -> Result<T, Failure>? {
        isDone ? outcome : nil
    }

    /// Marks the function as running; false if it was already started.
    @inlinable
    func claim() -> Bool {
        var s = state.load(ordering: .relaxed)
        while s & AsyncSplitState.phaseMask == AsyncSplitState.notStarted {
            let (exchanged, original) = state.compareExchange(
                expected: s, desired: s | AsyncSplitState.running, ordering: .relaxed)
            if exchanged { return true }
            s = original
        }
        return false
    }

    /// Stores the outcome and wakes every parked waiter.
    @inlinable
    func publish(_ result: Result<T, Failure>) {
        outcome = result
        // Release ordering: the outcome is visible to whoever sees "done".
        if state.exchange(AsyncSplitState.done, ordering: .releasing)
            & AsyncSplitState.parkedFlag != 0 {
            state.wakeAll()
        }
    }
}

/// The phases of an async split's state word, and its "someone is parked" flag.
@usableFromInline
enum AsyncSplitState {
    @usableFromInline static let notStarted: UInt32 = 0
    @usableFromInline static let running: UInt32 = 1
    @usableFromInline static let done: UInt32 = 2
    @usableFromInline static let phaseMask: UInt32 = 3
    @usableFromInline static let parkedFlag: UInt32 = 4
}

/// Parks the calling thread until the split's state word says done, the
/// deadline passes (`timedOut`) or `interrupt` says stop (`interrupted`).
/// Not generic, so that the slow path is compiled once.
@usableFromInline
func parkUntilDone(_ state: FutexWord, deadline: Deadline, interrupt: InterruptHook?) throws(DupThreadingError) {
    var schedule = HookSchedule(hasHook: interrupt != nil)
    while true {
        let s = state.load(ordering: .acquiring)
        if s & AsyncSplitState.phaseMask == AsyncSplitState.done { return }
        // A zero (or elapsed) timeout polls without parking.
        if deadline.hasPassed { throw .timedOut }
        if s & AsyncSplitState.parkedFlag == 0,
           !state.compareExchange(
               expected: s, desired: s | AsyncSplitState.parkedFlag, ordering: .relaxed).exchanged {
            continue
        }
        switch state.park(whileEqualTo: s | AsyncSplitState.parkedFlag, until: schedule.nextWake(deadline)) {
        case .woken:
            schedule.disturbed()
        case .signalled:
            schedule.disturbed()
            if let interrupt, interrupt() { throw .interrupted }
        case .timedOut:
            let now = state.load(ordering: .acquiring)
            if now & AsyncSplitState.phaseMask == AsyncSplitState.done { return }
            if deadline.hasPassed { throw .timedOut }
            if let interrupt, interrupt() { throw .interrupted }
        }
    }
}
