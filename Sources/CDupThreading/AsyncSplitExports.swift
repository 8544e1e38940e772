import CDupThreadingAPI
import DupThreading

/// A successful result of an async function; frees it through the
/// application's `free_result` when the split's last handle goes away.
/// Immutable; what it points to is shared among waiters under the header's
/// contract (borrowed, read-only), so it crosses threads as C says it may.
final class AsyncResult: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer?
    let free: (@convention(c) (UnsafeMutableRawPointer?) -> Void)?

    init(_ pointer: UnsafeMutableRawPointer?, free: (@convention(c) (UnsafeMutableRawPointer?) -> Void)?) {
        self.pointer = pointer
        self.free = free
    }

    deinit { if let pointer { free?(pointer) } }
}

/// The failure of an async function; frees its payload through its own
/// `free_data` when the split's last handle goes away.
final class AsyncFailure: @unchecked Sendable {
    let error: dt_error

    init(_ error: dt_error) { self.error = error }

    deinit { error.free_data?(error.data) }
}

/// How a C async function failed, as its waiters see it.
enum AsyncSplitFailure: Error, @unchecked Sendable {
    /// The function returned a non-zero status, with this error.
    case failed(AsyncFailure)
    /// The caller was freed without running.
    case abandoned
}

/// The object behind a `dt_waiter *`.
final class WaiterHandle: Handle {
    let waiter: AsyncSplitWaiter<AsyncResult, AsyncSplitFailure>
    init(_ waiter: AsyncSplitWaiter<AsyncResult, AsyncSplitFailure>) {
        self.waiter = waiter
        super.init(kind: .waiter)
    }
}

/// The object behind a `dt_caller *`.
final class CallerHandle: Handle {
    let caller: AsyncSplitCaller<AsyncResult, AsyncSplitFailure>
    init(_ caller: AsyncSplitCaller<AsyncResult, AsyncSplitFailure>) {
        self.caller = caller
        super.init(kind: .caller)
    }
}

@_cdecl("dt_async_split")
public func dt_async_split(
    _ fn: dt_async_fn?, _ ctx: UnsafeMutableRawPointer?,
    _ freeResult: (@convention(c) (UnsafeMutableRawPointer?) -> Void)?,
    _ waiterOut: UnsafeMutablePointer<OpaquePointer?>?, _ callerOut: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    guard let fn, let waiterOut, let callerOut else { return Status.invalidArgument.cValue }
    // The application's context, used on the thread that runs the caller as
    // the header documents.
    let context = UncheckedSendable(ctx)
    let (waiter, caller) = asyncSplit(abandoned: { AsyncSplitFailure.abandoned }) {
        () throws(AsyncSplitFailure) -> AsyncResult in
        let ctx = context.value
        var result: UnsafeMutableRawPointer?
        var error = dt_error(code: 0, data: nil, free_data: nil)
        let status = fn(ctx, &result, &error)
        if status == 0 { return AsyncResult(result, free: freeResult) }
        if error.code == 0 { error.code = status }
        throw .failed(AsyncFailure(error))
    }
    waiterOut.pointee = WaiterHandle(waiter).retainedPointer()
    callerOut.pointee = CallerHandle(caller).retainedPointer()
    return Status.ok.cValue
}

@_cdecl("dt_caller_run")
public func dt_caller_run(_ h: OpaquePointer?, _ waiterOut: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    withHandle(h, .caller, as: CallerHandle.self) { handle in
        do throws(DupThreadingError) {
            let (success, waiter) = try handle.caller()
            waiterOut?.pointee = WaiterHandle(waiter).retainedPointer()
            return (success ? Status.ok : Status.failed).cValue
        } catch {
            return Status(error).cValue
        }
    }
}

@_cdecl("dt_caller_free")
public func dt_caller_free(_ h: OpaquePointer?) -> Int32 {
    freeHandle(h, .caller, as: CallerHandle.self)
}

@_cdecl("dt_waiter_wait")
public func dt_waiter_wait(
    _ h: OpaquePointer?, _ timeoutSeconds: Double, _ interrupt: dt_interrupt_fn?, _ ctx: UnsafeMutableRawPointer?,
    _ result: UnsafeMutablePointer<UnsafeMutableRawPointer?>?, _ errorOut: UnsafeMutablePointer<dt_error>?
) -> Int32 {
    withHandle(h, .waiter, as: WaiterHandle.self) { handle in
        let outcome: Result<AsyncResult, AsyncSplitFailure>
        switch timeout(fromSeconds: timeoutSeconds) {
        case .failure(let s):
            return s.cValue
        case .success(let t):
            do throws(DupThreadingError) {
                outcome = try handle.waiter.waitForResult(timeout: t, interrupt: interruptHook(interrupt, ctx))
            } catch {
                return Status(error).cValue
            }
        }
        switch outcome {
        case .success(let r):
            result?.pointee = r.pointer
            return Status.ok.cValue
        case .failure(.abandoned):
            return Status.abandoned.cValue
        case .failure(.failed(let failure)):
            errorOut?.pointee = failure.error
            return Status.failed.cValue
        }
    }
}

@_cdecl("dt_waiter_done")
public func dt_waiter_done(_ h: OpaquePointer?, _ out: UnsafeMutablePointer<Int32>?) -> Int32 {
    withHandle(h, .waiter, as: WaiterHandle.self) { write($0.waiter.isDone ? 1 : 0, to: out) }
}

@_cdecl("dt_waiter_free")
public func dt_waiter_free(_ h: OpaquePointer?) -> Int32 {
    freeHandle(h, .waiter, as: WaiterHandle.self)
}
