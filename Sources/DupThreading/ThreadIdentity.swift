#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A cheap, non-zero identifier of the calling thread, unique among live threads.
/// Used to track lock ownership.
@inlinable
func currentThreadID() -> UInt {
    UInt(pthread_self())
}
