// A small tour of DupThreading: a shared counter in a Value, work handed to
// threads through asyncSplit, and an interruptible wait for them all.
import DupThreading

#if canImport(Glibc)
import Glibc
#endif

/// Starts `body` on a new POSIX thread (detached).
func spawn(_ body: @escaping @Sendable () -> Void) {
    final class Box: @unchecked Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    var thread = pthread_t()
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    pthread_create(&thread, nil, { raw in
        Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
        return nil
    }, box)
    pthread_detach(thread)
}

let jobs = 8
let done = Value(0)
let finished = Condition()

// Each job squares a number on its own thread; the waiters collect results.
var waiters: [AsyncWaiter<Int>] = []
for n in 1...jobs {
    let (waiter, caller) = asyncSplit { () throws -> Int in
        if n == 5 { struct Unlucky: Error {}; throw Unlucky() }
        return n * n
    }
    waiters.append(waiter)
    spawn {
        _ = try? caller()
        _ = done.transform { $0 + 1 }
        try? withLock(finished) { try finished.notifyAll() }
    }
}

// Wait, without polling, until every job has reported; give up after 5 s.
finished.acquire()
let outcome = try interruptiblyWait(finished, timeout: .seconds(5)) { done.get() == jobs }
try finished.release()
print("all jobs reported: \(outcome)")

for (i, waiter) in waiters.enumerated() {
    do {
        print("job \(i + 1): \(try waiter())")
    } catch {
        print("job \(i + 1): failed with \(error)")
    }
}
