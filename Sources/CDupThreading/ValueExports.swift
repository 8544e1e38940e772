import CDupThreadingAPI
import DupThreading

/// A pointer stored in a C Value. What it points to is the application's,
/// shared under the header's contract (the Value guards the pointer, not the
/// object), so it crosses threads as C code says it may.
struct StoredPointer: @unchecked Sendable {
    let raw: UnsafeMutableRawPointer?
    init(_ raw: UnsafeMutableRawPointer?) { self.raw = raw }
}

/// The object behind a `dt_value *`: a `Value` of a raw pointer plus the
/// application's optional retain/release hooks.
final class ValueHandle: Handle {
    let value: Value<StoredPointer>
    let hooks: dt_value_hooks?

    init(_ initial: UnsafeMutableRawPointer?, hooks: dt_value_hooks?) {
        self.hooks = hooks
        value = Value(StoredPointer(initial))
        super.init(kind: .value)
        retain(initial)
    }

    /// Takes a reference for the Value or for a caller (with hooks).
    @inline(__always)
    func retain(_ p: UnsafeMutableRawPointer?) {
        if let p, let retain = hooks?.retain { retain(hooks!.ctx, p) }
    }

    /// Gives back a reference (with hooks).
    @inline(__always)
    func release(_ p: UnsafeMutableRawPointer?) {
        if let p, let release = hooks?.release { release(hooks!.ctx, p) }
    }

    deinit { release(value.get().raw) }
}

@_cdecl("dt_value_new")
public func dt_value_new(
    _ initial: UnsafeMutableRawPointer?, _ hooks: UnsafePointer<dt_value_hooks>?,
    _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    create(out) { ValueHandle(initial, hooks: hooks?.pointee) }
}

@_cdecl("dt_value_free")
public func dt_value_free(_ h: OpaquePointer?) -> Int32 {
    freeHandle(h, .value, as: ValueHandle.self) { $0.value.isBusy }
}

@_cdecl("dt_value_get")
public func dt_value_get(_ h: OpaquePointer?, _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Int32 {
    guard let out else { return Status.invalidArgument.cValue }
    return withHandle(h, .value, as: ValueHandle.self) { handle in
        if handle.hooks == nil {
            out.pointee = handle.value.get().raw
        } else {
            // Retain under the lock, so a concurrent set cannot release it
            // first. The hook may use this Value again: the lock is reentrant.
            out.pointee = handle.value.read { p in handle.retain(p.raw); return p.raw }
        }
        return Status.ok.cValue
    }
}

@_cdecl("dt_value_set")
public func dt_value_set(_ h: OpaquePointer?, _ p: UnsafeMutableRawPointer?) -> Int32 {
    withHandle(h, .value, as: ValueHandle.self) { handle in
        handle.retain(p)
        handle.release(handle.value.exchange(StoredPointer(p)).raw)
        return Status.ok.cValue
    }
}

@_cdecl("dt_value_transform")
public func dt_value_transform(
    _ h: OpaquePointer?, _ fn: dt_transform_fn?, _ ctx: UnsafeMutableRawPointer?,
    _ result: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> Int32 {
    guard let fn else { return Status.invalidArgument.cValue }
    return withHandle(h, .value, as: ValueHandle.self) { handle in
        do throws(TransformFailure) {
            // The callback runs under the lock and may use this Value again.
            let (previous, current) = try handle.value.replace { current throws(TransformFailure) in
                var new: UnsafeMutableRawPointer?
                let status = fn(ctx, current.raw, &new)
                guard status == 0 else { throw TransformFailure(status: status) }
                handle.retain(new)  // the Value's reference
                // The caller's, taken under the lock: a concurrent set could
                // otherwise release the new value before we hand it out.
                if result != nil { handle.retain(new) }
                return StoredPointer(new)
            }
            result?.pointee = current.raw
            // Outside the lock, so a release hook that reenters cannot deadlock.
            handle.release(previous.raw)
            return Status.ok.cValue
        } catch {
            return error.status
        }
    }
}

/// A transform callback's non-zero status, carried out of `Value.replace`.
struct TransformFailure: Error {
    let status: Int32
}

@_cdecl("dt_value_acquire")
public func dt_value_acquire(_ h: OpaquePointer?) -> Int32 {
    withHandle(h, .value, as: ValueHandle.self) { $0.value.acquire(); return Status.ok.cValue }
}

@_cdecl("dt_value_try_acquire")
public func dt_value_try_acquire(_ h: OpaquePointer?) -> Int32 {
    withHandle(h, .value, as: ValueHandle.self) { ($0.value.tryAcquire() ? Status.ok : Status.busy).cValue }
}

@_cdecl("dt_value_acquire_timed")
public func dt_value_acquire_timed(
    _ h: OpaquePointer?, _ timeout: Double, _ interrupt: dt_interrupt_fn?, _ ctx: UnsafeMutableRawPointer?
) -> Int32 {
    withHandle(h, .value, as: ValueHandle.self) { handle in
        timedWait(timeout, interrupt, ctx) { t, hook throws(DupThreadingError) in
            try handle.value.acquire(timeout: t, interrupt: hook)
        }
    }
}

@_cdecl("dt_value_release")
public func dt_value_release(_ h: OpaquePointer?) -> Int32 {
    withHandle(h, .value, as: ValueHandle.self) { handle in
        status { () throws(DupThreadingError) in try handle.value.release() }
    }
}
