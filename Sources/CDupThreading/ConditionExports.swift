import CDupThreadingAPI
import DupThreading

/// The object behind a `dt_cond *`.
final class ConditionHandle: Handle {
    let condition: Condition
    /// The application's lock callbacks, for a condition on a foreign lock.
    let foreign: dt_foreign_lock?

    init(_ condition: Condition, foreign: dt_foreign_lock? = nil) {
        self.condition = condition
        self.foreign = foreign
        super.init(kind: .condition)
    }

    /// Acquires the condition's lock; a foreign acquire's failure status is
    /// returned as is (the core's `acquire()` cannot fail, so this bypasses it).
    func acquire() -> Int32 {
        if let foreign, let acquire = foreign.acquire { return acquire(foreign.ctx) }
        condition.acquire()
        return Status.ok.cValue
    }
}

/// A `dt_foreign_lock` as a `ForeignLock`. The struct is copied; its context
/// pointer stays the application's.
func foreignLock(_ c: dt_foreign_lock) -> ForeignLock {
    let callbacks = UncheckedSendable(c)
    // A failing foreign acquire cannot be reported from inside a wait (the
    // wait must return with the lock held); dt_cond_acquire reports it.
    let acquire: @Sendable () -> Void = {
        _ = callbacks.value.acquire?(callbacks.value.ctx)
    }
    let release: @Sendable () throws(DupThreadingError) -> Void = { () throws(DupThreadingError) in
        if callbacks.value.release?(callbacks.value.ctx) != 0 { throw .notOwner }
    }
    guard c.is_owned != nil else { return ForeignLock(acquire: acquire, release: release) }
    let isHeld: @Sendable () -> Bool = {
        // -1 (cannot tell) trusts the caller.
        callbacks.value.is_owned?(callbacks.value.ctx) != 0
    }
    return ForeignLock(acquire: acquire, release: release, isHeld: isHeld)
}

/// Carries a value that is only ever used under the application's own
/// thread-safety contract (C pointers and callbacks) across a `@Sendable` boundary.
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

@_cdecl("dt_cond_new")
public func dt_cond_new(_ lock: UnsafeMutableRawPointer?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guard let out else { return Status.invalidArgument.cValue }
    let condition: Condition
    switch kind(of: lock) {
    case nil:
        condition = Condition()
    case .lock?:
        condition = Condition(lock: Unmanaged<LockHandle>.fromOpaque(lock!).takeUnretainedValue().lock)
    case .rlock?:
        condition = Condition(lock: Unmanaged<RecursiveLockHandle>.fromOpaque(lock!).takeUnretainedValue().lock)
    default:
        return Status.badHandle.cValue
    }
    out.pointee = ConditionHandle(condition).retainedPointer()
    return Status.ok.cValue
}

@_cdecl("dt_cond_new_foreign")
public func dt_cond_new_foreign(
    _ lock: UnsafePointer<dt_foreign_lock>?, _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    guard let lock, lock.pointee.acquire != nil, lock.pointee.release != nil else {
        return Status.invalidArgument.cValue
    }
    return create(out) { ConditionHandle(Condition(lock: foreignLock(lock.pointee)), foreign: lock.pointee) }
}

@_cdecl("dt_cond_free")
public func dt_cond_free(_ h: OpaquePointer?) -> Int32 {
    freeHandle(h, .condition, as: ConditionHandle.self) { $0.condition.isBusy }
}

@_cdecl("dt_cond_acquire")
public func dt_cond_acquire(_ h: OpaquePointer?) -> Int32 {
    withHandle(h, .condition, as: ConditionHandle.self) { $0.acquire() }
}

@_cdecl("dt_cond_release")
public func dt_cond_release(_ h: OpaquePointer?) -> Int32 {
    withHandle(h, .condition, as: ConditionHandle.self) { handle in
        status { () throws(DupThreadingError) in try handle.condition.release() }
    }
}

/// Keeps a condition alive for the whole of a wait on it: `dt_cond_free`
/// refuses while the wait is in progress, and this reference covers the last
/// instructions after the wait stops counting itself.
func whileWaiting(_ handle: ConditionHandle, _ body: () -> Int32) -> Int32 {
    let reference = Unmanaged.passRetained(handle)
    defer { reference.release() }
    return body()
}

@_cdecl("dt_cond_wait")
public func dt_cond_wait(
    _ h: OpaquePointer?, _ timeout: Double, _ interrupt: dt_interrupt_fn?, _ ctx: UnsafeMutableRawPointer?
) -> Int32 {
    withHandle(h, .condition, as: ConditionHandle.self) { handle in whileWaiting(handle) {
        timedWait(timeout, interrupt, ctx) { t, hook throws(DupThreadingError) in
            try handle.condition.wait(timeout: t, interrupt: hook)
        }
    } }
}

@_cdecl("dt_cond_notify")
public func dt_cond_notify(_ h: OpaquePointer?, _ n: Int) -> Int32 {
    withHandle(h, .condition, as: ConditionHandle.self) { handle in
        status { () throws(DupThreadingError) in try handle.condition.notify(n) }
    }
}

@_cdecl("dt_cond_notify_all")
public func dt_cond_notify_all(_ h: OpaquePointer?) -> Int32 {
    withHandle(h, .condition, as: ConditionHandle.self) { handle in
        status { () throws(DupThreadingError) in try handle.condition.notifyAll() }
    }
}

@_cdecl("dt_cond_interrupt")
public func dt_cond_interrupt(_ h: OpaquePointer?) -> Int32 {
    withHandle(h, .condition, as: ConditionHandle.self) { $0.condition.interruptWaiters(); return Status.ok.cValue }
}

@_cdecl("dt_cond_reinit_after_fork")
public func dt_cond_reinit_after_fork(_ h: OpaquePointer?) -> Int32 {
    withHandle(h, .condition, as: ConditionHandle.self) { $0.condition.reinitializeAfterFork(); return Status.ok.cValue }
}

/// The predicate's negative status, carried out of `Condition.wait(until:)`.
struct PredicateAbort: Error {
    let status: Int32
}

@_cdecl("dt_interruptible_wait")
public func dt_interruptible_wait(
    _ h: OpaquePointer?,
    _ predicate: dt_predicate_fn?, _ predicateCtx: UnsafeMutableRawPointer?,
    _ interrupt: dt_interrupt_fn?, _ interruptCtx: UnsafeMutableRawPointer?,
    _ timeoutSeconds: Double
) -> Int32 {
    guard let predicate else { return Status.invalidArgument.cValue }
    return withHandle(h, .condition, as: ConditionHandle.self) { handle in whileWaiting(handle) {
        switch timeout(fromSeconds: timeoutSeconds) {
        case .failure(let s):
            return s.cValue
        case .success(let t):
            do throws(PredicateWaitError<PredicateAbort>) {
                let outcome = try handle.condition.wait(
                    checking: { () throws(PredicateAbort) -> Bool in
                        let r = predicate(predicateCtx)
                        if r < 0 { throw PredicateAbort(status: r) }
                        return r > 0
                    },
                    timeout: t, interrupt: interruptHook(interrupt, interruptCtx))
                return Status(outcome).cValue
            } catch {
                switch error {
                case .predicate(let abort): return abort.status
                case .misuse(let misuse): return Status(misuse).cValue
                }
            }
        }
    } }
}
