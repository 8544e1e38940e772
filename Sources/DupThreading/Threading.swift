/// Whether this system supports threads. On the platforms this library
/// builds for (Linux with POSIX threads) it always does. Thread-safe.
public func threadingSupported() -> Bool {
    ThreadingSupport.isSupported
}

/// Throws `DupThreadingError.notSupported` if threading is not supported, with
/// a message that includes `reason` (or "(no reason given)"). Thread-safe.
public func requireThreading(reason: String? = nil) throws(DupThreadingError) {
    guard threadingSupported() else {
        throw .notSupported(ThreadingSupport.message(reason: reason))
    }
}

/// Where the answer of `threadingSupported()` comes from; tests may override it.
enum ThreadingSupport {
    nonisolated(unsafe) static var overrideForTesting: Bool?

    static var isSupported: Bool { overrideForTesting ?? true }

    /// The message for a missing-threading error, as duplicity words it.
    static func message(reason: String?) -> String {
        "threading was required because [\(reason ?? "(no reason given)")], but thread support is not available on this system"
    }
}
