import CDupThreadingAPI
import DupThreading

/// The library's lock behind any lockable handle, or nil for another kind.
private func lockable(_ pointer: UnsafeMutableRawPointer) -> (any Lockable)? {
    let object = Unmanaged<Handle>.fromOpaque(pointer).takeUnretainedValue()
    switch HandleKind(rawValue: object.kind) {
    case .lock?: return unsafeDowncast(object, to: LockHandle.self).lock
    case .rlock?: return unsafeDowncast(object, to: RecursiveLockHandle.self).lock
    case .condition?: return unsafeDowncast(object, to: ConditionHandle.self).condition
    case .value?: return unsafeDowncast(object, to: ValueHandle.self).value
    default: return nil
    }
}

/// Runs `body` between `acquire` and `release`, returning the body's status,
/// or the release's if the body succeeded and the release did not.
private func run(
    _ body: dt_body_fn, _ ctx: UnsafeMutableRawPointer?, releasing release: () -> Int32
) -> Int32 {
    let status = body(ctx)
    let released = release()
    return status != 0 ? status : released
}

@_cdecl("dt_with_lock")
public func dt_with_lock(_ h: UnsafeMutableRawPointer?, _ body: dt_body_fn?, _ ctx: UnsafeMutableRawPointer?) -> Int32 {
    guard let h, let body else { return Status.invalidArgument.cValue }
    if kind(of: h) == .condition,
       var foreign = Unmanaged<ConditionHandle>.fromOpaque(h).takeUnretainedValue().foreign {
        return withUnsafePointer(to: &foreign) { dt_with_foreign_lock($0, body, ctx) }
    }
    guard let lock = lockable(h) else { return Status.badHandle.cValue }
    lock.acquire()
    return run(body, ctx) { status { () throws(DupThreadingError) in try lock.release() } }
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
