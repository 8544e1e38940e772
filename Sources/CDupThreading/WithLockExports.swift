import CDupThreadingAPI
import DupThreading

/// Runs `body` between `acquire` and `release`, returning the body's status,
/// or the release's if the body succeeded and the release did not.
private func run(
    _ body: dt_body_fn, _ ctx: UnsafeMutableRawPointer?, releasing release: () -> Int32
) -> Int32 {
    let status = body(ctx)
    let released = release()
    return status != 0 ? status : released
}

/// `run` with one of the library's own locks; generic, so that every lock
/// type gets its own direct calls (no existential box, no retain).
@inline(__always)
private func run<L: Lockable>(_ body: dt_body_fn, _ ctx: UnsafeMutableRawPointer?, holding lock: L) -> Int32 {
    lock.acquire()
    return run(body, ctx) { status { () throws(DupThreadingError) in try lock.release() } }
}

@_cdecl("dt_with_lock")
public func dt_with_lock(_ h: UnsafeMutableRawPointer?, _ body: dt_body_fn?, _ ctx: UnsafeMutableRawPointer?) -> Int32 {
    guard let h, let body else { return Status.invalidArgument.cValue }
    // The caller's handle keeps the object alive for the call.
    return Unmanaged<Handle>.fromOpaque(h)._withUnsafeGuaranteedRef { object in
        switch HandleKind(rawValue: object.kind) {
        case .lock?:
            return run(body, ctx, holding: unsafeDowncast(object, to: LockHandle.self).lock)
        case .rlock?:
            return run(body, ctx, holding: unsafeDowncast(object, to: RecursiveLockHandle.self).lock)
        case .value?:
            return run(body, ctx, holding: unsafeDowncast(object, to: ValueHandle.self).value)
        case .condition?:
            let handle = unsafeDowncast(object, to: ConditionHandle.self)
            if var foreign = handle.foreign {
                return withUnsafePointer(to: &foreign) { dt_with_foreign_lock($0, body, ctx) }
            }
            return run(body, ctx, holding: handle.condition)
        default:
            return Status.badHandle.cValue
        }
    }
}

@_cdecl("dt_with_foreign_lock")
public func dt_with_foreign_lock(
    _ lock: UnsafePointer<dt_foreign_lock>?, _ body: dt_body_fn?, _ ctx: UnsafeMutableRawPointer?
) -> Int32 {
    guard let lock, let acquire = lock.pointee.acquire, let release = lock.pointee.release, let body else {
        return Status.invalidArgument.cValue
    }
    let lockCtx = lock.pointee.ctx
    let acquired = acquire(lockCtx)
    guard acquired == 0 else { return acquired }
    return run(body, ctx) { release(lockCtx) }
}
