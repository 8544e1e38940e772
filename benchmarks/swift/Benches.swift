// The benchmarks themselves. They live in a nonisolated function, not in
// main.swift's top-level code: top-level code is MainActor-isolated in
// Swift 6, and closures formed there carry a run-time executor check that
// would be measured as part of every operation.

import DupThreading
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

func runBenchmarks(_ options: Options) {
    let runner = Runner(options: options)

    // A program that uses a threading library has threads: make this process
    // multi-threaded before measuring, so that the C library takes the same
    // (atomic) paths it takes in such a program.
    runOnThread {}

    emitLine(#"{"suite":"swift","meta":{"rounds":\#(options.rounds),"sample_ms":\#(options.sampleMilliseconds),"quick":\#(options.quick)}}"#)

    // Sanity checks: each contender really does the work.
    do {
        let v = makeValue(1)
        let m = makeMutexBox(1)
        let p = makePthreadLocked(1)
        let ok = v.transform { $0 &+ 1 } == 2 && m.mutex.withLock { $0 &+= 1; return $0 } == 2
            && p.withLock { $0 &+= 1; return $0 } == 2 && v.get() == 2
        emitLine(#"{"suite":"swift","check":"transform_adds_one","ok":\#(ok),"detail":""}"#)
    }

    // MARK: Value.get vs Mutex.withLock { $0 }

    do {
        let v = makeValue(42)
        let m = makeMutexBox(42)
        let p = makePthreadLocked(42)
        runner.interleaved("value_get", [
            Contender(name: "DupThreading.Value") { n in
                var acc = 0
                let t0 = nowNanoseconds()
                for _ in 0..<n { acc &+= v.get() }
                let t = nowNanoseconds() - t0
                blackHole(acc)
                return t
            },
            Contender(name: "Mutex.withLock") { n in
                var acc = 0
                let t0 = nowNanoseconds()
                for _ in 0..<n { acc &+= m.mutex.withLock { $0 } }
                let t = nowNanoseconds() - t0
                blackHole(acc)
                return t
            },
            Contender(name: "pthread_mutex_class") { n in
                var acc = 0
                let t0 = nowNanoseconds()
                for _ in 0..<n { acc &+= p.withLock { $0 } }
                let t = nowNanoseconds() - t0
                blackHole(acc)
                return t
            },
        ])
    }

    // MARK: Value.set vs Mutex.withLock { $0 = x }

    do {
        let v = makeValue(0)
        let m = makeMutexBox(0)
        let p = makePthreadLocked(0)
        runner.interleaved("value_set", [
            Contender(name: "DupThreading.Value") { n in
                let t0 = nowNanoseconds()
                for i in 0..<n { v.set(i) }
                let t = nowNanoseconds() - t0
                blackHole(v.get())
                return t
            },
            Contender(name: "Mutex.withLock") { n in
                let t0 = nowNanoseconds()
                for i in 0..<n { m.mutex.withLock { $0 = i } }
                let t = nowNanoseconds() - t0
                blackHole(m.mutex.withLock { $0 })
                return t
            },
            Contender(name: "pthread_mutex_class") { n in
                let t0 = nowNanoseconds()
                for i in 0..<n { p.withLock { $0 = i } }
                let t = nowNanoseconds() - t0
                blackHole(p.withLock { $0 })
                return t
            },
        ])
    }

    // MARK: Value.transform { $0 + 1 } vs Mutex.withLock { $0 += 1 }

    do {
        let v = makeValue(0)
        let m = makeMutexBox(0)
        let p = makePthreadLocked(0)
        runner.interleaved("transform", [
            Contender(name: "DupThreading.Value") { n in
                var acc = 0
                let t0 = nowNanoseconds()
                for _ in 0..<n { acc &+= v.transform { $0 &+ 1 } }
                let t = nowNanoseconds() - t0
                blackHole(acc)
                return t
            },
            Contender(name: "Mutex.withLock") { n in
                var acc = 0
                let t0 = nowNanoseconds()
                for _ in 0..<n { acc &+= m.mutex.withLock { $0 &+= 1; return $0 } }
                let t = nowNanoseconds() - t0
                blackHole(acc)
                return t
            },
            Contender(name: "pthread_mutex_class") { n in
                var acc = 0
                let t0 = nowNanoseconds()
                for _ in 0..<n { acc &+= p.withLock { $0 &+= 1; return $0 } }
                let t = nowNanoseconds() - t0
                blackHole(acc)
                return t
            },
        ])
    }

    // MARK: Locks, for information: Lock / RecursiveLock vs Mutex<Void> and pthread

    do {
        let lock = makeLock()
        let rlock = makeRecursiveLock()
        let m = makeMutexBox(0)
        let p = makePthreadLocked(0)
        runner.interleaved("lock_acquire_release", [
            Contender(name: "DupThreading.Lock") { n in
                var failures = 0
                let t0 = nowNanoseconds()
                for _ in 0..<n {
                    lock.acquire()
                    do { try lock.release() } catch { failures &+= 1 }
                }
                let t = nowNanoseconds() - t0
                blackHole(failures)
                return t
            },
            Contender(name: "DupThreading.RecursiveLock") { n in
                var failures = 0
                let t0 = nowNanoseconds()
                for _ in 0..<n {
                    rlock.acquire()
                    do { try rlock.release() } catch { failures &+= 1 }
                }
                let t = nowNanoseconds() - t0
                blackHole(failures)
                return t
            },
            Contender(name: "Mutex.withLock") { n in
                let t0 = nowNanoseconds()
                for _ in 0..<n { m.mutex.withLock { _ in } }
                let t = nowNanoseconds() - t0
                return t
            },
            Contender(name: "pthread_mutex_class") { n in
                let t0 = nowNanoseconds()
                for _ in 0..<n {
                    p.lock()
                    p.unlock()
                }
                let t = nowNanoseconds() - t0
                return t
            },
        ])
    }

    emitLine(#"{"suite":"swift","done":true,"sink":\#(sinkStorage & 1)}"#)
}
