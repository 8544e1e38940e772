// withLock(_:_:): returns the body's value, always releases (also on throw),
// and works with every Lockable: Lock, RecursiveLock, Condition, Value and
// ForeignLock.

import DupThreading
import Glibc
import Synchronization
import XCTest

final class WithLockTests: XCTestCase {
    func testReturnsTheBodysValueAndReleases() throws {
        let lock = Lock()
        let result = try withLock(lock) { () -> String in
            XCTAssertEqual(lock.isHeldByCurrentThread, true)
            return "ok"
        }
        XCTAssertEqual(result, "ok")
        XCTAssertFalse(lock.isLocked)
    }

    func testReleasesWhenTheBodyThrows() {
        let lock = Lock()
        XCTAssertThrowsError(try withLock(lock) { () throws(TestError) -> Int in throw TestError(code: 3) }) {
            XCTAssertEqual($0 as? TestError, TestError(code: 3))
        }
        XCTAssertFalse(lock.isLocked)
        XCTAssertTrue(lock.tryAcquire(), "released after the throw")
        try? lock.release()
    }

    func testReleaseFailureIsReportedUnlessTheBodyFailed() {
        // The body releases the lock behind withLock's back.
        let lock = Lock()
        XCTAssertThrowsError(try withLock(lock) { try lock.release() }) {
            XCTAssertEqual($0 as? DupThreadingError, .notLocked)
        }
        // When the body also throws, its error wins.
        XCTAssertThrowsError(try withLock(lock) { () throws -> Void in
            try lock.release()
            throw TestError(code: 4)
        }) { XCTAssertEqual($0 as? TestError, TestError(code: 4)) }
        XCTAssertFalse(lock.isLocked)
    }

    func testRecursiveLockNests() throws {
        let lock = RecursiveLock()
        let depth = try withLock(lock) { try withLock(lock) { lock.recursionCount } }
        XCTAssertEqual(depth, 2)
        XCTAssertFalse(lock.isLocked)
        XCTAssertThrowsError(try withLock(lock) { () throws(TestError) in throw TestError(code: 5) })
        XCTAssertFalse(lock.isLocked)
    }

    func testCondition() throws {
        let cond = Condition()
        try withLock(cond) {
            XCTAssertEqual(cond.lock.isHeldByCurrentThread, true)
            try cond.notifyAll()
        }
        XCTAssertEqual(cond.lock.isHeldByCurrentThread, false)
        XCTAssertThrowsError(try withLock(cond) { () throws(TestError) in throw TestError(code: 6) })
        XCTAssertEqual(cond.lock.isHeldByCurrentThread, false)
    }

    func testValue() throws {
        let value = Value(10)
        let doubled = try withLock(value) { value.get() * 2 }
        XCTAssertEqual(doubled, 20)
        XCTAssertFalse(value.isHeldByCurrentThread)
    }

    func testForeignLock() throws {
        let mutex = PthreadMutex()
        let lock = mutex.foreignLock()
        XCTAssertEqual(try withLock(lock) { mutex.isHeldByCurrentThread }, true)
        XCTAssertThrowsError(try withLock(lock) { () throws(TestError) in throw TestError(code: 7) })
        XCTAssertFalse(mutex.isHeldByCurrentThread)
        XCTAssertEqual(mutex.acquires.load(ordering: .relaxed), 2)
        XCTAssertEqual(mutex.releases.load(ordering: .relaxed), 2)
    }

    func testMutualExclusionAcrossThreads() {
        // withLock over each lock kind guards a plain counter.
        let locks: [any Lockable] = [Lock(), RecursiveLock(), Condition(), Value(0), PthreadMutex().foreignLock()]
        for lock in locks {
            let counter = Box(0)
            XCTAssertTrue(runThreads(3) { _ in
                for _ in 0..<5_000 { try? withLock(lock) { counter.value += 1 } }
            }, "\(type(of: lock))")
            XCTAssertEqual(counter.value, 15_000, "\(type(of: lock))")
        }
    }
}
