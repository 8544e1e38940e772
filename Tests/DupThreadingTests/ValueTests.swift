// Value: the thread-safe container. Accessors, reentrancy (get() inside
// withLock), failed transforms, atomic increments under contention,
// exclusive access across threads, and ownership of stored objects.

import DupThreading
import Glibc
import Synchronization
import XCTest

final class ValueTests: XCTestCase {
    func testGetSetExchangeTransform() {
        let value = Value(1)
        XCTAssertEqual(value.get(), 1)
        value.set(2)
        XCTAssertEqual(value.get(), 2)
        XCTAssertEqual(value.exchange(3), 2)
        XCTAssertEqual(value.get(), 3)
        XCTAssertEqual(value.transform { $0 * 10 }, 30)
        XCTAssertEqual(value.get(), 30)
        XCTAssertFalse(value.isHeldByCurrentThread)
    }

    func testWithLockMutatesInPlaceAndReturnsTheResult() {
        let value = Value([1, 2])
        let count = value.withLock { (array: inout [Int]) -> Int in
            array.append(3)
            return array.count
        }
        XCTAssertEqual(count, 3)
        XCTAssertEqual(value.get(), [1, 2, 3])

        // If the body throws, changes it already made stay (documented).
        XCTAssertThrowsError(try value.withLock { (array: inout [Int]) throws(TestError) in
            array.append(4)
            throw TestError(code: 1)
        }) { XCTAssertEqual($0 as? TestError, TestError(code: 1)) }
        XCTAssertEqual(value.get(), [1, 2, 3, 4])
        XCTAssertFalse(value.isHeldByCurrentThread)
    }

    func testGetInsideWithLockIsReentrant() throws {
        // The reference's idiom: with_lock(value, fn) where fn calls value.get().
        let value = Value(["key": 0])
        try withLock(value) {
            var dict = value.get()
            dict["key"] = 1
            value.set(dict)
            XCTAssertTrue(value.isHeldByCurrentThread)
        }
        XCTAssertEqual(value.get()["key"], 1)
        // Other methods nest inside the free function's body too. (Not inside
        // Value.withLock's body: that holds an inout access to the stored
        // value, and Swift's exclusivity rules forbid touching it meanwhile.)
        let seen = try withLock(value) {
            value.withLock { $0["inner"] = 3 }
            return value.transform { $0.merging(["other": 2]) { a, _ in a } }
        }
        XCTAssertEqual(seen, ["key": 1, "inner": 3, "other": 2])
        value.acquire()
        value.acquire()
        XCTAssertEqual(value.get()["key"], 1)
        try value.release()
        try value.release()
        XCTAssertFalse(value.isHeldByCurrentThread)
    }

    func testThrowingTransformLeavesValueUnchangedAndLockUsable() throws {
        let value = Value(5)
        XCTAssertThrowsError(try value.transform { (_: Int) throws(TestError) -> Int in throw TestError(code: 2) }) {
            XCTAssertEqual($0 as? TestError, TestError(code: 2))
        }
        XCTAssertEqual(value.get(), 5)
        XCTAssertFalse(value.isHeldByCurrentThread)
        // Another thread can take it at once: the lock was released.
        let other = Box<(Bool, Int)>((false, 0))
        try join(TestThread {
            let took = value.tryAcquire()
            other.value = (took, value.get())
            if took { try? value.release() }
        })
        XCTAssertTrue(other.value.0)
        XCTAssertEqual(other.value.1, 5)
    }

    func testConcurrentIncrementsAreExact() {
        let value = Value(0)
        let threads = 8, rounds = 50_000
        XCTAssertTrue(runThreads(threads, within: .seconds(60)) { _ in
            for _ in 0..<rounds { _ = value.transform { $0 + 1 } }
        })
        XCTAssertEqual(value.get(), threads * rounds)
    }

    /// The stored value lives in the lock's cache line when it fits and in a
    /// larger block when it does not: large and over-aligned values must
    /// round-trip, never tear under concurrent writers, and be destroyed.
    func testValuesOfAnySizeAndAlignment() {
        XCTAssertEqual(Value(UInt8(7)).transform { $0 + 1 }, 8)
        let unit = Value(())
        unit.set(())
        XCTAssertFalse(unit.isLocked)

        let wide = Value(SIMD16<Double>(repeating: 1))
        XCTAssertEqual(wide.transform { $0 * 2 }, SIMD16<Double>(repeating: 2))

        // 256 bytes: every writer stores one number in all 32 lanes; a reader
        // seeing two different lanes saw a torn value.
        let big = Value(SIMD32<Int64>(repeating: 0))
        let torn = Atomic<Int>(0)
        XCTAssertTrue(runThreads(4, within: .seconds(60)) { index in
            for round in 0..<20_000 {
                if index % 2 == 0 {
                    big.set(SIMD32<Int64>(repeating: Int64(index * 1_000_000 + round)))
                } else {
                    let seen = big.get()
                    if seen != SIMD32<Int64>(repeating: seen[0]) { torn.add(1, ordering: .relaxed) }
                }
            }
        })
        XCTAssertEqual(torn.load(ordering: .relaxed), 0)

        // A stored object in a large value is released with the Value.
        final class Token: Sendable {}
        weak var weakToken: Token?
        do {
            let token = Token()
            weakToken = token
            let holder = Value((token, SIMD8<Int64>(repeating: 3)))
            XCTAssertTrue(holder.get().0 === token)
        }
        XCTAssertNil(weakToken)
    }

    func testExclusiveAccessAcrossThreads() throws {
        let value = Value(0)
        value.acquire()
        XCTAssertTrue(value.isHeldByCurrentThread)
        let other = Box<(tried: Bool, outcome: WaitOutcome?, ms: Double, error: DupThreadingError?)>(
            (true, nil, 0, nil))
        try join(TestThread {
            let tried = value.tryAcquire()
            let start = nowNanos()
            let outcome = try? value.acquire(timeout: .milliseconds(50))
            let ms = millisSince(start)
            var releaseError: DupThreadingError?
            do { try value.release() } catch { releaseError = error as? DupThreadingError }
            other.value = (tried, outcome, ms, releaseError)
        })
        XCTAssertFalse(other.value.tried)
        XCTAssertEqual(other.value.outcome, .timedOut)
        XCTAssertGreaterThanOrEqual(other.value.ms, 45)
        XCTAssertLessThan(other.value.ms, 1000)
        XCTAssertEqual(other.value.error, .notOwner)
        XCTAssertTrue(value.isHeldByCurrentThread)
        try value.release()
        XCTAssertThrowsError(try value.release()) { XCTAssertEqual($0 as? DupThreadingError, .notLocked) }

        // A blocked set() from another thread completes once we release.
        value.acquire()
        let t = TestThread { value.set(42) }
        try waitUntilParked(t)
        XCTAssertEqual(value.get(), 0, "set() got in while we held the value")
        try value.release()
        try join(t)
        XCTAssertEqual(value.get(), 42)
    }

    func testAcquireWithTimeout() throws {
        let value = Value("x")
        XCTAssertEqual(try value.acquire(timeout: .milliseconds(10)), .satisfied)
        XCTAssertEqual(try value.acquire(timeout: .zero), .satisfied)  // reentrant
        try value.release()
        try value.release()
        XCTAssertThrowsError(try value.acquire(timeout: .milliseconds(-1))) { error in
            guard case .invalidTimeout = error as? DupThreadingError else {
                return XCTFail("expected invalidTimeout, got \(error)")
            }
        }
        XCTAssertFalse(value.isHeldByCurrentThread)
    }

    func testReplacedObjectsAreDeinitialized() {
        let counter = DeinitCounter()
        do {
            let value = Value(Tracked(1, counter))
            value.set(Tracked(2, counter))
            XCTAssertEqual(counter.value, 1, "the object replaced by set() is destroyed")
            XCTAssertEqual(value.get().id, 2)
            let old = value.exchange(Tracked(3, counter))
            XCTAssertEqual(old.id, 2)
            XCTAssertEqual(counter.value, 1, "exchange() hands the old object back alive")
            _ = value.transform { _ in Tracked(4, counter) }
            XCTAssertEqual(counter.value, 2)
            withExtendedLifetime(old) {}
        }
        // `old` and the Value (with object 4) are gone.
        XCTAssertEqual(counter.value, 4)
    }

    func testReplacedObjectIsDestroyedAfterTheLockIsReleased() {
        // Documented: a value replaced by set() is destroyed after the lock is
        // released, so its deinit may use the container freely.
        final class Watcher: @unchecked Sendable {
            weak var container: Value<Watcher?>?
            let sawLockHeld: Box<Bool?>
            init(_ sawLockHeld: Box<Bool?>) { self.sawLockHeld = sawLockHeld }
            deinit {
                sawLockHeld.value = container?.isHeldByCurrentThread
                _ = container?.get()  // must not deadlock
            }
        }
        let sawLockHeld = Box<Bool?>(nil)
        let holder = Value<Watcher?>(nil)
        let watcher = Watcher(sawLockHeld)
        watcher.container = holder
        holder.set(watcher)
        _ = consume watcher
        holder.set(nil)
        XCTAssertEqual(sawLockHeld.value, false)

        // The same through transform(): the replaced object must not be
        // destroyed inside the store, with the lock still held.
        let again = Watcher(sawLockHeld)
        again.container = holder
        holder.set(again)
        _ = consume again
        sawLockHeld.value = nil
        _ = holder.transform { _ in nil }
        XCTAssertEqual(sawLockHeld.value, false)
        XCTAssertNil(holder.get())
    }
}
