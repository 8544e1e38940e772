// Lock, recursive lock and Value scenarios for the deterministic scheduler:
// mutual exclusion with timed and blocking acquires, racing releases from
// any thread, a condition wait at depth, and Value operations racing each
// other.

#if DUPTHREADING_SCHEDULE
@testable import DupThreading
import XCTest

/// Counts how many threads are inside a critical section; more than one is a
/// broken lock.
final class CriticalSection: @unchecked Sendable {
    private var inside = 0
    private(set) var entries = 0
    private(set) var failure: String?

    /// Enters, lets the scheduler run others (who must not enter), leaves.
    func run(_ sched: DeterministicScheduler) {
        inside += 1
        entries += 1
        if inside != 1 { failure = failure ?? "\(inside) threads inside the critical section" }
        sched.point()
        inside -= 1
    }
}

/// The outcomes of two releases racing to end one hold: exactly one may
/// succeed, the other must get notLocked, and the lock must end free. The
/// scheduler runs one thread at a time, so plain counters suffice.
private final class ReleaseTally: @unchecked Sendable {
    private var successes = 0
    private var notLocked = 0

    /// Runs one release and counts how it ended.
    func count(_ release: () throws(DupThreadingError) -> Void) {
        do throws(DupThreadingError) {
            try release()
            successes += 1
        } catch {
            if error == .notLocked { notLocked += 1 }
        }
    }

    /// nil if the race ended as it must, else what went wrong.
    func verdict(_ lock: Lock) -> String? {
        if lock.isLocked { return "the lock is still held" }
        return successes == 1 && notLocked == 1 ? nil : "\(successes) releases succeeded, \(notLocked) got notLocked"
    }
}

final class LockScheduleTests: XCTestCase {
    /// Mutual exclusion and hand-off: two threads take the lock with a
    /// blocking acquire, one with a timed acquire that may give up.
    func testLockMutualExclusionAndHandOff() {
        assertAllSchedulesPass(Scenario(name: "lock hand-off", threadCount: 3) { sched in
            let lock = Lock()
            let cs = CriticalSection()
            let gaveUp = Box(0)
            let blocking: @Sendable () -> Void = {
                lock.acquire()
                cs.run(sched)
                try? lock.release()
            }
            return Scenario.Run(
                bodies: [
                    blocking, blocking,
                    {
                        switch try? lock.acquire(timeout: .milliseconds(5)) {
                        case .satisfied?:
                            cs.run(sched)
                            try? lock.release()
                        default: gaveUp.value += 1
                        }
                    },
                ],
                check: {
                    if let f = cs.failure { return f }
                    if lock.isLocked { return "the lock is still held after every thread released it" }
                    return cs.entries + gaveUp.value == 3 ? nil : "\(cs.entries) entries, \(gaveUp.value) timeouts"
                })
        })
    }

    /// Two threads release, from any thread, one hold taken before they
    /// start: exactly one succeeds, the other gets notLocked.
    func testRacingReleasesFromAnyThreadReleaseOneHoldOnce() {
        assertAllSchedulesPass(Scenario(name: "racing any-thread releases", threadCount: 2) { _ in
            let lock = Lock()
            lock.acquire()
            let tally = ReleaseTally()
            let release: @Sendable () -> Void = {
                tally.count { () throws(DupThreadingError) in try lock.releaseFromAnyThread() }
            }
            return Scenario.Run(bodies: [release, release], check: { tally.verdict(lock) })
        })
    }

    /// The holder releases its own hold while another thread releases it
    /// from any thread: exactly one of the two succeeds (the other gets
    /// notLocked), and the lock ends free.
    func testOwnReleaseRacingAReleaseFromAnyThread() {
        assertAllSchedulesPass(Scenario(name: "own release vs any-thread release", threadCount: 2) { _ in
            let lock = Lock()
            let held = Box(false)
            let tally = ReleaseTally()
            return Scenario.Run(
                bodies: [
                    {
                        lock.acquire()
                        held.value = true
                        tally.count { () throws(DupThreadingError) in try lock.release() }
                    },
                    {
                        while !held.value { spinPause() }
                        tally.count { () throws(DupThreadingError) in try lock.releaseFromAnyThread() }
                    },
                ],
                check: { tally.verdict(lock) })
        })
    }

    /// A release from any thread racing a third thread's acquire and its own
    /// release: every successful release ends exactly one hold, and the lock
    /// is consistent at the end.
    func testReleaseFromAnyThreadAgainstAnAcquirer() {
        assertAllSchedulesPass(Scenario(name: "any-thread release vs acquirer", threadCount: 3) { _ in
            let lock = Lock()
            lock.acquire()
            // Counted after the calls return, so only the totals are exact.
            let holds = Box(1)
            let releases = Box(0)
            let releaseAny: @Sendable () -> Void = {
                if (try? lock.releaseFromAnyThread()) != nil { releases.value += 1 }
            }
            return Scenario.Run(
                bodies: [
                    releaseAny, releaseAny,
                    {
                        if (try? lock.acquire(timeout: .milliseconds(5))) == .satisfied { holds.value += 1 }
                    },
                ],
                check: {
                    if releases.value > holds.value { return "\(releases.value) releases of \(holds.value) holds" }
                    let stillHeld = holds.value - releases.value
                    if stillHeld != (lock.isLocked ? 1 : 0) {
                        return "\(holds.value) holds, \(releases.value) releases, but isLocked is \(lock.isLocked)"
                    }
                    return nil
                })
        })
    }

    /// A condition wait on a recursive lock held three times releases it
    /// fully (the notifier can take it) and restores the depth.
    func testConditionWaitAtDepthRestoresTheDepth() {
        assertAllSchedulesPass(Scenario(name: "wait at depth 3", threadCount: 2) { _ in
            let lock = RecursiveLock()
            let cond = Condition(lock: lock)
            let ready = Box(false)
            let depthAfter = Box(0)
            return Scenario.Run(
                bodies: [
                    {
                        lock.acquire(); lock.acquire(); lock.acquire()
                        while !ready.value { _ = try? cond.wait(timeout: .seconds(1)) }
                        depthAfter.value = lock.recursionCount
                        for _ in 0..<3 { try? lock.release() }
                    },
                    {
                        lock.acquire()
                        ready.value = true
                        try? cond.notify()
                        try? lock.release()
                    },
                ],
                check: {
                    if lock.isLocked { return "the lock is still held" }
                    return depthAfter.value == 3 ? nil : "depth after the wait: \(depthAfter.value)"
                })
        })
    }
}
#endif
