import CDupThreadingAPI
import DupThreading

/// The object behind a `dt_lock *`.
final class LockHandle: Handle {
    let lock = Lock()
    init() { super.init(kind: .lock) }
}

@_cdecl("dt_lock_new")
public func dt_lock_new(_ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    create(out) { LockHandle() }
}

@_cdecl("dt_lock_free")
public func dt_lock_free(_ h: OpaquePointer?) -> Int32 {
    freeHandle(h, .lock, as: LockHandle.self) { $0.lock.isBusy }
}

@_cdecl("dt_lock_acquire")
public func dt_lock_acquire(_ h: OpaquePointer?) -> Int32 {
    withHandle(h, .lock, as: LockHandle.self) { $0.lock.acquire(); return Status.ok.cValue }
}

@_cdecl("dt_lock_try_acquire")
public func dt_lock_try_acquire(_ h: OpaquePointer?) -> Int32 {
    withHandle(h, .lock, as: LockHandle.self) { ($0.lock.tryAcquire() ? Status.ok : Status.busy).cValue }
}

@_cdecl("dt_lock_acquire_timed")
public func dt_lock_acquire_timed(
    _ h: OpaquePointer?, _ timeout: Double, _ interrupt: dt_interrupt_fn?, _ ctx: UnsafeMutableRawPointer?
) -> Int32 {
    withHandle(h, .lock, as: LockHandle.self) { handle in
        timedWait(timeout, interrupt, ctx) { t, hook throws(DupThreadingError) in
            try handle.lock.acquire(timeout: t, interrupt: hook)
        }
    }
}

@_cdecl("dt_lock_release")
public func dt_lock_release(_ h: OpaquePointer?) -> Int32 {
    withHandle(h, .lock, as: LockHandle.self) { handle in status { () throws(DupThreadingError) in try handle.lock.release() } }
}

@_cdecl("dt_lock_release_any_thread")
public func dt_lock_release_any_thread(_ h: OpaquePointer?) -> Int32 {
    withHandle(h, .lock, as: LockHandle.self) { handle in
        status { () throws(DupThreadingError) in try handle.lock.releaseFromAnyThread() }
    }
}

@_cdecl("dt_lock_locked")
public func dt_lock_locked(_ h: OpaquePointer?, _ out: UnsafeMutablePointer<Int32>?) -> Int32 {
    withHandle(h, .lock, as: LockHandle.self) { write($0.lock.isLocked ? 1 : 0, to: out) }
}

@_cdecl("dt_lock_reinit_after_fork")
public func dt_lock_reinit_after_fork(_ h: OpaquePointer?) -> Int32 {
    withHandle(h, .lock, as: LockHandle.self) { $0.lock.reinitializeAfterFork(); return Status.ok.cValue }
}
