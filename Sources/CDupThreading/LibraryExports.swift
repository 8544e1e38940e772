import DupThreading

@_cdecl("dt_version")
public func dt_version() -> Int32 { 10000 }

@_cdecl("dt_version_string")
public func dt_version_string() -> UnsafePointer<CChar> { cString("1.0.0") }

@_cdecl("dt_strerror")
public func dt_strerror(_ status: Int32) -> UnsafePointer<CChar> {
    cString(Status(rawValue: status)?.message ?? "unknown status")
}

@_cdecl("dt_threading_supported")
public func dt_threading_supported() -> Int32 { threadingSupported() ? 1 : 0 }

@_cdecl("dt_require_threading")
public func dt_require_threading(
    _ reason: UnsafePointer<CChar>?, _ message: UnsafeMutablePointer<CChar>?, _ size: Int
) -> Int32 {
    if message == nil && size != 0 { return Status.invalidArgument.cValue }
    do throws(DupThreadingError) {
        try requireThreading(reason: reason.map { String(cString: $0) })
        return Status.ok.cValue
    } catch {
        if let message, size > 0 {
            let bytes = Array(error.description.utf8.prefix(size - 1))
            for (i, b) in bytes.enumerated() { message[i] = CChar(bitPattern: b) }
            message[bytes.count] = 0
        }
        return Status(error).cValue
    }
}

/// A static string literal as a C string (literals are NUL-terminated and
/// live as long as the library).
private func cString(_ s: StaticString) -> UnsafePointer<CChar> {
    UnsafeRawPointer(s.utf8Start).assumingMemoryBound(to: CChar.self)
}
