// The part of the Swift API that throws untyped errors (`throws`, `any
// Error`): the functions whose callers' closures may throw anything. Embedded
// Swift has no untyped throws, so the embedded build of the C library
// (CMakeLists.txt) compiles none of this file; each function here is a thin
// layer over a typed-throws function of the core, which both builds share.

#if !hasFeature(Embedded)

// ---- asyncSplit ----------------------------------------------------------------

/// Splits calling `fn` into a waiter half and a caller half, like duplicity's
/// `async_split`: run `caller` on any thread (typically a worker) and call
/// `waiter` from any number of threads to get `fn`'s result or its error.
///
/// Thread-safe. The two halves share ownership of the outcome; it lives as long
/// as either half. `fn` is released once it has run. `fn` runs on whichever
/// thread runs the caller, and its result goes to every waiting thread, so
/// both must be `Sendable`.
@inlinable
public func asyncSplit<T: Sendable>(
    _ fn: @escaping @Sendable () throws -> T
) -> (waiter: AsyncWaiter<T>, caller: AsyncCaller<T>) {
    asyncSplit(abandoned: { DupThreadingError.abandoned }, fn)
}

/// The back-end half of `asyncSplit`: runs the function, once (see
/// `AsyncSplitCaller`).
public typealias AsyncCaller<T: Sendable> = AsyncSplitCaller<T, any Error>

/// The front-end half of `asyncSplit`: waits for the function's outcome (see
/// `AsyncSplitWaiter`).
public typealias AsyncWaiter<T: Sendable> = AsyncSplitWaiter<T, any Error>

extension AsyncSplitWaiter where Failure == any Error {
    /// Blocks until the function has run, then returns its result or rethrows its error.
    @inlinable
    public func callAsFunction() throws -> T {
        try waitForResult(timeout: nil, interrupt: nil).get()
    }
}

// ---- Condition.wait(until:) and interruptiblyWait ----------------------------

extension Condition {
    /// Waits until `predicate` returns true (checked with the lock held, first
    /// before any waiting), the timeout passes, or the wait is interrupted.
    /// Wakes at once on notify: no polling. The lock is held again on every
    /// return path, including interruption and a throwing predicate, whose
    /// error is rethrown. Throws `DupThreadingError` for misuse.
    public func wait(
        until predicate: () throws -> Bool,
        timeout: Duration? = nil,
        interrupt: InterruptHook? = nil
    ) throws -> WaitOutcome {
        do throws(PredicateWaitError<any Error>) {
            return try wait(checking: predicate, timeout: timeout, interrupt: interrupt)
        } catch {
            switch error {
            case .misuse(let misuse): throw misuse
            case .predicate(let predicateError): throw predicateError
            }
        }
    }
}

/// Waits on `condition` until `predicate` is true, as duplicity's
/// `interruptably_wait(cv, waitFor)` does, but without polling: it wakes at
/// once on notify, and consults `interrupt` when the wait is disturbed.
///
/// The calling thread must hold the condition's lock; it holds it again on
/// every return path. Returns `.satisfied`, `.timedOut` or `.interrupted`.
/// Rethrows the predicate's error; throws `DupThreadingError` for misuse.
public func interruptiblyWait(
    _ condition: Condition,
    timeout: Duration? = nil,
    interrupt: InterruptHook? = nil,
    until predicate: () throws -> Bool
) throws -> WaitOutcome {
    try condition.wait(until: predicate, timeout: timeout, interrupt: interrupt)
}

// ---- withLock ------------------------------------------------------------------

/// Runs `body` with `lock` held and releases it when `body` returns or throws.
///
/// Returns what `body` returns and rethrows what it throws. Thread-safe as far
/// as `lock` is. If the release itself fails (for example `body` released the
/// lock behind our back) and `body` succeeded, the release error is thrown.
@inlinable
public func withLock<L: Lockable, R, E: Error>(
    _ lock: L, _ body: () throws(E) -> R
) throws -> R {
    lock.acquire()
    let result: Result<R, E>
    do throws(E) {
        result = .success(try body())
    } catch {
        result = .failure(error)
    }
    do {
        try lock.release()
    } catch {
        if case .failure(let bodyError) = result { throw bodyError }
        throw error
    }
    return try result.get()
}

#endif
