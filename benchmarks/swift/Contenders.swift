// The containers compared by the Swift benchmark: DupThreading.Value, the
// standard library's Synchronization.Mutex, and a small hand-written
// pthread_mutex wrapper class.

import DupThreading
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A Mutex in a class, so that it lives on the heap like the others and is
/// shared by reference.
final class MutexBox: Sendable {
    let mutex: Mutex<Int>
    init(_ value: Int) { mutex = Mutex(value) }
}

/// A lock-protected value over pthread_mutex_t, as hand-written code would
/// have it: the mutex at a stable heap address, withLock as the only door.
final class PthreadLocked<T>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: T

    init(_ value: T) {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        self.value = value
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    @inline(__always)
    func withLock<R>(_ body: (inout T) -> R) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body(&value)
    }

    @inline(__always)
    func lock() { pthread_mutex_lock(mutex) }

    @inline(__always)
    func unlock() { pthread_mutex_unlock(mutex) }
}

@inline(never) func makeValue(_ v: Int) -> Value<Int> { opaque(Value(v)) }
@inline(never) func makeMutexBox(_ v: Int) -> MutexBox { opaque(MutexBox(v)) }
@inline(never) func makePthreadLocked(_ v: Int) -> PthreadLocked<Int> { opaque(PthreadLocked(v)) }
@inline(never) func makeLock() -> Lock { opaque(Lock()) }
@inline(never) func makeRecursiveLock() -> RecursiveLock { opaque(RecursiveLock()) }

/// Runs `body` on a new thread and waits for it.
func runOnThread(_ body: @escaping () -> Void) {
    final class Box { let body: () -> Void; init(_ b: @escaping () -> Void) { body = b } }
    let context = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(&thread, nil, { raw in
        let box = Unmanaged<AnyObject>.fromOpaque(raw!).takeRetainedValue() as! Box
        box.body()
        return nil
    }, context)
    precondition(rc == 0, "pthread_create failed: \(rc)")
    pthread_join(thread, nil)
}
