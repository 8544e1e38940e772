/// What kind of object a C handle points to. Stored in every handle so that a
/// handle of the wrong kind, or one already freed, is reported, not trusted.
enum HandleKind: UInt32 {
    case lock = 0x4454_4c4b      // "DTLK"
    case rlock = 0x4454_524c     // "DTRL"
    case condition = 0x4454_4356 // "DTCV"
    case value = 0x4454_564c     // "DTVL"
    case waiter = 0x4454_5754    // "DTWT"
    case caller = 0x4454_434c    // "DTCL"
    case freed = 0xDEAD_DEAD
}

/// The base of every object a C handle points to. A handle is an unmanaged
/// +1 reference to one of these, created by a `dt_*_new` function and given
/// back by the matching `dt_*_free`.
class Handle {
    final var kind: UInt32

    init(kind: HandleKind) { self.kind = kind.rawValue }

    /// The C handle for a new reference to this object.
    final func retainedPointer() -> OpaquePointer {
        OpaquePointer(Unmanaged.passRetained(self).toOpaque())
    }
}

/// Resolves a C handle to its object, checking its kind, and runs `body` with
/// it without retaining it (the caller's handle keeps it alive). NULL gives
/// `DT_EINVAL`, a wrong or freed kind `DT_EBADHANDLE`.
@inline(__always)
func withHandle<H: Handle>(
    _ pointer: OpaquePointer?, _ kind: HandleKind, as type: H.Type, _ body: (H) -> Int32
) -> Int32 {
    guard let pointer else { return Status.invalidArgument.cValue }
    return Unmanaged<Handle>.fromOpaque(UnsafeRawPointer(pointer))._withUnsafeGuaranteedRef { base in
        guard base.kind == kind.rawValue else { return Status.badHandle.cValue }
        return body(unsafeDowncast(base, to: H.self))
    }
}

/// The kind stored in a handle, or nil for NULL.
func kind(of pointer: UnsafeMutableRawPointer?) -> HandleKind? {
    guard let pointer else { return nil }
    return Unmanaged<Handle>.fromOpaque(pointer)._withUnsafeGuaranteedRef { HandleKind(rawValue: $0.kind) }
}

/// Frees a handle of `kind` unless `inUse` says it is busy.
func freeHandle<H: Handle>(
    _ pointer: OpaquePointer?, _ kind: HandleKind, as type: H.Type, inUse: (H) -> Bool = { _ in false }
) -> Int32 {
    let s = withHandle(pointer, kind, as: type) { h in
        if inUse(h) { return Status.busy.cValue }
        h.kind = HandleKind.freed.rawValue
        return Status.ok.cValue
    }
    if s == Status.ok.cValue, let pointer {
        Unmanaged<Handle>.fromOpaque(UnsafeRawPointer(pointer)).release()
    }
    return s
}

/// Writes a new handle to a C out-parameter; NULL out gives `DT_EINVAL`.
func create(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ make: () -> Handle) -> Int32 {
    guard let out else { return Status.invalidArgument.cValue }
    out.pointee = make().retainedPointer()
    return Status.ok.cValue
}

/// Writes `value` to a C out-parameter; NULL out gives `DT_EINVAL`.
@inline(__always)
func write<T>(_ value: T, to out: UnsafeMutablePointer<T>?) -> Int32 {
    guard let out else { return Status.invalidArgument.cValue }
    out.pointee = value
    return Status.ok.cValue
}
