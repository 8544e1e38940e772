// Free scenarios for the deterministic scheduler: a C handle's free succeeds
// only when no thread is inside a call on it. Each scenario has a thread that
// "frees" the object the moment the check a free makes (isBusy,
// waitingThreadCount) says it may; the scheduler then fails the run if any
// thread still operates on a shared word of that object.

#if DUPTHREADING_SCHEDULE
@testable import DupThreading
import XCTest

/// The bytes of a lock's cache line (state, holder, depth, pin, payload).
private func lockLine(_ lock: Lock) -> (UnsafeRawPointer, Int) {
    (UnsafeRawPointer(lock.words.state.pointer), LockWords.lineSize)
}

/// A freeing thread: waits (yielding) until `entered` says the thread under
/// test is inside its call, then until `busy` is false, then marks `regions`
/// freed. If the other threads finish without ever entering that state (no
/// contention in this schedule), it frees nothing. `entered` must not read
/// the counter the free check relies on: with that counter broken it would
/// never say entered, and the scenario could not fail (the lock scenarios
/// use the contended state word, which an acquire sets only after counting
/// itself).
private func freer(
    _ sched: DeterministicScheduler, othersDone: Box<Int>, others: Int,
    entered: @escaping @Sendable () -> Bool,
    busy: @escaping @Sendable () -> Bool, regions: [(UnsafeRawPointer, Int)],
    noMoreCalls: @escaping @Sendable () -> Bool = { true }
) -> @Sendable () -> Void {
    let regions = UncheckedBox(regions)
    return {
        while !entered() {
            if othersDone.value == others { return }
            spinPause()
        }
        // No thread is about to start a new call (that would be the
        // application's bug, not the free's), and none is inside one.
        while !noMoreCalls() || busy() { spinPause() }
        for (base, count) in regions.value { sched.markFreed(base, byteCount: count) }
    }
}

/// `body`, then one more in `done`.
private func counted(_ done: Box<Int>, _ body: @escaping @Sendable () -> Void) -> @Sendable () -> Void {
    { body(); done.value += 1 }
}

final class FreeScheduleTests: XCTestCase {
    /// A lock freed once a blocked acquire has finished with it.
    func testLockFreeWaitsForABlockedAcquire() {
        assertAllSchedulesPass(Scenario(name: "free vs blocked acquire", threadCount: 3) { sched in
            let lock = Lock()
            lock.acquire()
            let done = Box(0)
            return Scenario.Run(
                bodies: [
                    counted(done) {
                        if (try? lock.acquire(timeout: .milliseconds(5))) == .satisfied {
                            try? lock.release()
                        }
                    },
                    counted(done) { try? lock.releaseFromAnyThread() },
                    freer(sched, othersDone: done, others: 2, entered: { lock.state.pointer.pointee.load(ordering: .relaxed) == 2 },
                          busy: { lock.isBusy }, regions: [lockLine(lock)]),
                ],
                check: { nil })
        })
    }

    /// A Value freed once a blocked get has finished with it.
    func testValueFreeWaitsForABlockedGet() {
        assertAllSchedulesPass(Scenario(name: "free vs blocked get", threadCount: 3) { sched in
            let value = Value(1)
            let held = Box(false)
            let done = Box(0)
            return Scenario.Run(
                bodies: [
                    counted(done) {
                        value.acquire()
                        held.value = true
                        sched.point()
                        try? value.release()
                    },
                    counted(done) {
                        while !held.value { spinPause() }
                        _ = value.get()
                    },
                    freer(sched, othersDone: done, others: 2, entered: { value.lock.inner.words.state.pointer.pointee.load(ordering: .relaxed) == 2 },
                          busy: { value.isBusy }, regions: [lockLine(value.lock.inner)]),
                ],
                check: { nil })
        })
    }

    /// A condition freed once a wait has returned with the lock and the lock
    /// was released: never while the waiter takes the lock back.
    func testConditionFreeWaitsForTheWholeWait() {
        assertAllSchedulesPass(Scenario(name: "free vs wait", threadCount: 3) { sched in
            let lock = Lock()
            let cond = Condition(lock: lock)
            let entered = Box(false)
            let done = Box(0)
            let notified = Box(false)
            return Scenario.Run(
                bodies: [
                    counted(done) {
                        cond.acquire()
                        entered.value = true
                        _ = try? cond.wait(timeout: .seconds(1))
                        try? cond.release()
                    },
                    counted(done) {
                        cond.acquire()
                        try? cond.notify()
                        try? cond.release()
                        notified.value = true
                    },
                    freer(sched, othersDone: done, others: 2, entered: { entered.value },
                          busy: { cond.isBusy },
                          regions: [(UnsafeRawPointer(cond.inside.pointer), 8), lockLine(lock)],
                          noMoreCalls: { notified.value }),
                ],
                check: { nil })
        })
    }

    /// A free's check of a condition, at any moment while a thread holds its
    /// lock, waits on it or takes it back, says busy: it is made with the
    /// lock taken, so no wait can start or end during it.
    func testConditionFreeCheckNeverMissesAWaitThatIsStarting() {
        assertAllSchedulesPass(Scenario(name: "free check vs the start of a wait", threadCount: 2) { _ in
            let lock = Lock()
            let cond = Condition(lock: lock)
            let started = Box(false)
            let done = Box(false)
            let missed = Box(0)
            return Scenario.Run(
                bodies: [
                    {
                        cond.acquire()
                        started.value = true
                        _ = try? cond.wait(timeout: .milliseconds(1))
                        done.value = true
                        try? cond.release()
                    },
                    {
                        while !started.value { spinPause() }
                        while !done.value {
                            if !cond.isBusy, !done.value { missed.value += 1 }
                            spinPause()
                        }
                    },
                ],
                check: { missed.value == 0 ? nil : "a free's check passed \(missed.value) times during the wait" })
        })
    }
}
#endif
