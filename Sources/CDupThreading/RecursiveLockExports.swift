import CDupThreadingAPI
import DupThreading

/// The object behind a `dt_rlock *`.
final class RecursiveLockHandle: Handle {
    let lock = RecursiveLock()
    init() { super.init(kind: .rlock) }
}

@_cdecl("dt_rlock_new")
public func dt_rlock_new(_ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    create(out) { RecursiveLockHandle() }
}

@_cdecl("dt_rlock_free")
public func dt_rlock_free(_ h: OpaquePointer?) -> Int32 {
    freeHandle(h, .rlock, as: RecursiveLockHandle.self) { $0.lock.isBusy }
}

@_cdecl("dt_rlock_acquire")
public func dt_rlock_acquire(_ h: OpaquePointer?) -> Int32 {
    withHandle(h, .rlock, as: RecursiveLockHandle.self) { $0.lock.acquire(); return Status.ok.cValue }
}

@_cdecl("dt_rlock_try_acquire")
public func dt_rlock_try_acquire(_ h: OpaquePointer?) -> Int32 {
    withHandle(h, .rlock, as: RecursiveLockHandle.self) { ($0.lock.tryAcquire() ? Status.ok : Status.busy).cValue }
}

@_cdecl("dt_rlock_acquire_timed")
public func dt_rlock_acquire_timed(
    _ h: OpaquePointer?, _ timeout: Double, _ interrupt: dt_interrupt_fn?, _ ctx: UnsafeMutableRawPointer?
) -> Int32 {
    withHandle(h, .rlock, as: RecursiveLockHandle.self) { handle in
        timedWait(timeout, interrupt, ctx) { t, hook throws(DupThreadingError) in
            try handle.lock.acquire(timeout: t, interrupt: hook)
        }
    }
}

@_cdecl("dt_rlock_release")
public func dt_rlock_release(_ h: OpaquePointer?) -> Int32 {
    withHandle(h, .rlock, as: RecursiveLockHandle.self) { handle in
        status { () throws(DupThreadingError) in try handle.lock.release() }
    }
}

@_cdecl("dt_rlock_locked")
public func dt_rlock_locked(_ h: OpaquePointer?, _ out: UnsafeMutablePointer<Int32>?) -> Int32 {
    withHandle(h, .rlock, as: RecursiveLockHandle.self) { write($0.lock.isLocked ? 1 : 0, to: out) }
}

@_cdecl("dt_rlock_count")
public func dt_rlock_count(_ h: OpaquePointer?, _ out: UnsafeMutablePointer<Int>?) -> Int32 {
    withHandle(h, .rlock, as: RecursiveLockHandle.self) { write($0.lock.recursionCount, to: out) }
}

@_cdecl("dt_rlock_owner")
public func dt_rlock_owner(
    _ h: OpaquePointer?, _ owner: UnsafeMutablePointer<UInt>?, _ count: UnsafeMutablePointer<Int>?
) -> Int32 {
    guard let owner, let count else { return Status.invalidArgument.cValue }
    return withHandle(h, .rlock, as: RecursiveLockHandle.self) { handle in
        (owner.pointee, count.pointee) = handle.lock.ownerSnapshot
        return Status.ok.cValue
    }
}

@_cdecl("dt_rlock_release_save")
public func dt_rlock_release_save(_ h: OpaquePointer?, _ out: UnsafeMutablePointer<Int>?) -> Int32 {
    guard let out else { return Status.invalidArgument.cValue }
    return withHandle(h, .rlock, as: RecursiveLockHandle.self) { handle in
        status { () throws(DupThreadingError) in
            out.pointee = try handle.lock.releaseForWait().recursionCount
        }
    }
}

@_cdecl("dt_rlock_acquire_restore")
public func dt_rlock_acquire_restore(_ h: OpaquePointer?, _ count: Int) -> Int32 {
    guard count >= 1 else { return Status.invalidArgument.cValue }
    return withHandle(h, .rlock, as: RecursiveLockHandle.self) { handle in
        if handle.lock.isOwnedByCurrentThread { return Status.busy.cValue }
        handle.lock.restoreAfterWait(LockSavedState(recursionCount: count))
        return Status.ok.cValue
    }
}

@_cdecl("dt_rlock_reinit_after_fork")
public func dt_rlock_reinit_after_fork(_ h: OpaquePointer?) -> Int32 {
    withHandle(h, .rlock, as: RecursiveLockHandle.self) { $0.lock.reinitializeAfterFork(); return Status.ok.cValue }
}
