// Condition scenarios for the deterministic scheduler: exact notify counts,
// timeouts racing notifies, interrupts racing notifies, the lock restored
// while the wait still counts as in progress, and the hook checks after a
// wake-up. Each states its invariants; the explorer drives it through every
// schedule within the preemption bound and through random walks.

#if DUPTHREADING_SCHEDULE
@testable import DupThreading
import XCTest

/// What the threads of a condition scenario share. Only one thread runs at a
/// time under the scheduler, so plain fields are enough.
final class ConditionLog: @unchecked Sendable {
    /// Waits begun (incremented under the lock just before waiting).
    var entered = 0
    /// Waits that returned, by outcome.
    var notified = 0, timedOut = 0, interrupted = 0
    /// The sum of n over every notify(n) issued so far.
    var notifiesIssued = 0
    var failures: [String] = []

    var returned: Int { notified + timedOut + interrupted }

    /// Records a wait's outcome; called with the lock held again.
    func record(_ outcome: WaitOutcome) {
        switch outcome {
        case .satisfied:
            notified += 1
            // A wait returns notified only if a notify chose it: never more
            // than the notifies issued so far.
            if notified > notifiesIssued {
                failures.append("\(notified) waits returned notified after notifies for only \(notifiesIssued)")
            }
        case .timedOut: timedOut += 1
        case .interrupted: interrupted += 1
        }
    }

    func verdict() -> String? { failures.first }
}

/// A waiter body: acquire, count itself in, wait once, record, release.
private func conditionWaiter(
    _ cond: Condition, _ log: ConditionLog, timeout: Duration?, interrupt: InterruptHook? = nil
) -> @Sendable () -> Void {
    let interrupt = UncheckedBox(interrupt)
    return {
        cond.acquire()
        log.entered += 1
        do {
            log.record(try cond.wait(timeout: timeout, interrupt: interrupt.value))
        } catch {
            log.failures.append("wait threw \(error)")
        }
        do { try cond.release() } catch { log.failures.append("release threw \(error)") }
    }
}

/// Carries a non-Sendable value into a scenario thread (scenario threads run
/// one at a time).
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// Busy-waits (yielding to the scheduler) until `ready`, checked with the
/// condition's lock held, is true.
private func spinUntilUnderLock(_ cond: Condition, _ ready: () -> Bool) {
    while true {
        cond.acquire()
        let done = ready()
        try? cond.release()
        if done { return }
        spinPause()
    }
}

/// A notifier body: under the lock, waits (yielding) until `ready` holds,
/// then notifies `n` and counts it.
private func notifier(
    _ cond: Condition, _ log: ConditionLog, n: Int, when ready: @escaping @Sendable (ConditionLog) -> Bool
) -> @Sendable () -> Void {
    {
        while true {
            cond.acquire()
            if ready(log) {
                log.notifiesIssued += n
                do { try cond.notify(n) } catch { log.failures.append("notify threw \(error)") }
                try? cond.release()
                return
            }
            try? cond.release()
            spinPause()
        }
    }
}

final class ConditionScheduleTests: XCTestCase {
    /// Two timed waits, one notify(1) once both are waiting: exactly one wait
    /// may return notified; the other times out (never "notified" by its
    /// timeout).
    func testTimedOutWaitIsNotReportedNotified() {
        assertAllSchedulesPass(Scenario(name: "timeout vs notify(1)", threadCount: 3) { _ in
            let cond = Condition()
            let log = ConditionLog()
            return Scenario.Run(
                bodies: [
                    conditionWaiter(cond, log, timeout: .seconds(1)),
                    conditionWaiter(cond, log, timeout: .seconds(1)),
                    notifier(cond, log, n: 1) { $0.entered == 2 },
                ],
                check: {
                    log.verdict() ?? (log.returned == 2 ? nil : "only \(log.returned) of 2 waits returned")
                })
        })
    }

    /// Three untimed waits and notify(2): exactly two return before the
    /// next notify; the last notify(1) releases the third (no lost wake-up:
    /// a missing one is a deadlock the scheduler reports).
    func testNotifyWakesExactlyN() {
        assertAllSchedulesPass(Scenario(name: "notify(2) of 3", threadCount: 4) { _ in
            let cond = Condition()
            let log = ConditionLog()
            let notifyTwoThenOne: @Sendable () -> Void = {
                notifier(cond, log, n: 2) { $0.entered == 3 }()
                notifier(cond, log, n: 1) { $0.notified >= 2 }()
            }
            return Scenario.Run(
                bodies: [
                    conditionWaiter(cond, log, timeout: nil), conditionWaiter(cond, log, timeout: nil),
                    conditionWaiter(cond, log, timeout: nil), notifyTwoThenOne,
                ],
                check: { log.verdict() ?? (log.notified == 3 ? nil : "\(log.notified) of 3 waits notified") })
        })
    }

    /// An interrupt whose hook says "go on" neither ends the wait nor
    /// counts as a notify: the wait returns notified only after the notify.
    func testInterruptWithHookThatGoesOnIsNotANotify() {
        assertAllSchedulesPass(Scenario(name: "interrupt, hook goes on", threadCount: 3) { _ in
            let cond = Condition()
            let log = ConditionLog()
            let interrupted = Box(false)
            return Scenario.Run(
                bodies: [
                    conditionWaiter(cond, log, timeout: nil, interrupt: { false }),
                    {
                        spinUntilUnderLock(cond) { log.entered == 1 }
                        cond.interruptWaiters()
                        interrupted.value = true
                    },
                    notifier(cond, log, n: 1) { _ in interrupted.value },
                ],
                check: {
                    log.verdict() ?? (log.notified == 1 && log.interrupted == 0
                        ? nil : "outcomes: \(log.notified) notified, \(log.interrupted) interrupted")
                })
        })
    }

    /// An interrupt racing a wait never eats a later notify: a waiter with no
    /// hook is interrupted while it starts waiting; a second waiter starts
    /// after the interrupt; one notify(1) once both wait, and a second only
    /// if the first went to the interruptible waiter (which then returned
    /// notified). Every notify must reach a waiter: a lost one leaves the
    /// second waiter parked, a deadlock the scheduler reports.
    func testInterruptNeverEatsANotify() {
        assertAllSchedulesPass(Scenario(name: "interrupt vs notify", threadCount: 4) { _ in
            let cond = Condition()
            let log = ConditionLog()
            let plain = ConditionLog()
            let interruptible = ConditionLog()
            let interruptibleWaiting = Box(false)
            let interruptDone = Box(false)
            let notifyBoth: @Sendable () -> Void = {
                notifier(cond, log, n: 1) { $0.entered == 2 }()
                while interruptible.returned == 0 { spinPause() }
                if interruptible.notified == 1 {
                    notifier(cond, log, n: 1) { _ in true }()
                }
            }
            return Scenario.Run(
                bodies: [
                    {
                        cond.acquire()
                        log.entered += 1
                        interruptibleWaiting.value = true
                        let outcome = (try? cond.wait(timeout: nil, interrupt: nil)) ?? .timedOut
                        interruptible.record(outcome)
                        log.record(outcome)
                        try? cond.release()
                    },
                    {
                        while !interruptDone.value { spinPause() }
                        cond.acquire()
                        log.entered += 1
                        let outcome = (try? cond.wait(timeout: nil, interrupt: nil)) ?? .timedOut
                        plain.record(outcome)
                        log.record(outcome)
                        try? cond.release()
                    },
                    {
                        while !interruptibleWaiting.value { spinPause() }
                        cond.interruptWaiters()
                        interruptDone.value = true
                    },
                    notifyBoth,
                ],
                check: {
                    if let v = log.verdict() { return v }
                    if plain.notified != 1 { return "the second waiter returned \(plain.returned) times, notified \(plain.notified)" }
                    return nil
                })
        })
    }

    /// notify(2) and notifyAll racing three timed waits: every wait returns
    /// notified exactly when a notify chose it (what notify returns), so the
    /// number of notified waits equals the number the notifies chose.
    func testNotifyCountsAgainstTimeouts() {
        assertAllSchedulesPass(Scenario(name: "notify(2), notifyAll vs timeouts", threadCount: 4) { _ in
            let cond = Condition()
            let log = ConditionLog()
            let chosen = Box(0)
            return Scenario.Run(
                bodies: [
                    conditionWaiter(cond, log, timeout: .milliseconds(1)),
                    conditionWaiter(cond, log, timeout: .milliseconds(2)),
                    conditionWaiter(cond, log, timeout: .seconds(1)),
                    {
                        for n in [2, Int.max] {
                            cond.acquire()
                            log.notifiesIssued += n == Int.max ? 3 : n
                            chosen.value += (try? (n == Int.max ? cond.notifyAll() : cond.notify(n))) ?? -100
                            try? cond.release()
                            spinPause()
                        }
                    },
                ],
                check: {
                    if let v = log.verdict() { return v }
                    if log.returned != 3 { return "\(log.returned) of 3 waits returned" }
                    return log.notified == chosen.value
                        ? nil : "\(log.notified) waits returned notified, the notifies chose \(chosen.value)"
                })
        })
    }

    /// `interruptWaiters` called from a "signal handler" on a thread in the
    /// middle of any queue operation of its own (enqueue, notify, leave):
    /// it must not deadlock on the queue's lock, and the interruption still
    /// reaches the waiter if it is queued (it has no hook, so it ends).
    func testInterruptFromASignalHandlerInsideAQueueOperation() {
        assertAllSchedulesPass(Scenario(name: "interrupt from a signal handler", threadCount: 2) { sched in
            let cond = Condition()
            let log = ConditionLog()
            sched.setSignalHandler(for: 0) { cond.interruptWaiters() }
            sched.setSignalHandler(for: 1) { cond.interruptWaiters() }
            return Scenario.Run(
                bodies: [
                    conditionWaiter(cond, log, timeout: .milliseconds(1)),
                    notifier(cond, log, n: 1) { $0.entered == 1 },
                ],
                check: { log.verdict() ?? (log.returned == 1 ? nil : "the wait did not return") })
        })
    }

    /// `wait(timeout:)` has no hook: an interruption ends it by throwing
    /// `interrupted`, never by returning true (notified).
    func testWaitWithoutAHookReportsAnInterruptionAsSuch() {
        assertAllSchedulesPass(Scenario(name: "wait(timeout:) interrupted", threadCount: 2) { _ in
            let cond = Condition()
            let log = ConditionLog()
            return Scenario.Run(
                bodies: [
                    {
                        cond.acquire()
                        log.entered += 1
                        do throws(DupThreadingError) {
                            let notified = try cond.wait(timeout: .milliseconds(1))
                            log.record(notified ? .satisfied : .timedOut)
                        } catch {
                            if error == .interrupted { log.record(.interrupted) } else { log.failures.append("threw \(error)") }
                        }
                        if cond.lock.isHeldByCurrentThread != true { log.failures.append("the lock is not held again") }
                        try? cond.release()
                    },
                    {
                        spinUntilUnderLock(cond) { log.entered == 1 }
                        cond.interruptWaiters()
                    },
                ],
                check: { log.verdict() ?? (log.notified == 0 ? nil : "notified without a notify") })
        })
    }

    /// A condition on a foreign lock (whose holder the condition cannot see)
    /// counts a thread as inside its wait for the whole call: in the lock's
    /// ownership check and in every predicate call of `wait(until:)`.
    func testForeignLockWaitCountsTheWholeCall() {
        assertAllSchedulesPass(Scenario(name: "foreign lock: the whole call counted", threadCount: 2) { _ in
            let inner = Lock()
            let condBox = Box<Condition?>(nil)
            let uncounted = Box(0)
            let flag = Box(false)
            let waiterThread = Box(0)
            let lock = ForeignLock(
                acquire: { inner.acquire() },
                release: { () throws(DupThreadingError) in try inner.release() },
                isHeld: {
                    // The waiter's checks happen inside its call (the notifier's do not).
                    if currentThreadID() == waiterThread.value, condBox.value?.waitingThreadCount == 0 {
                        uncounted.value += 1
                    }
                    return inner.isHeldByCurrentThread == true
                })
            let cond = Condition(lock: lock)
            condBox.value = cond
            return Scenario.Run(
                bodies: [
                    {
                        cond.acquire()
                        waiterThread.value = currentThreadID()
                        _ = try? cond.wait(until: {
                            if cond.waitingThreadCount == 0 { uncounted.value += 1 }
                            return flag.value
                        }, timeout: .milliseconds(1))
                        try? cond.release()
                    },
                    {
                        cond.acquire()
                        flag.value = true
                        try? cond.notify()
                        try? cond.release()
                    },
                ],
                check: {
                    condBox.value = nil
                    return uncounted.value == 0 ? nil : "\(uncounted.value) steps of a wait were not counted"
                })
        })
    }

    /// A notify handed on by a wait its hook stopped goes only to a thread
    /// that was already waiting when the notify was called: here the only
    /// other waiter starts after it, so it must time out.
    func testHandedOnNotifySkipsLaterWaiters() {
        assertAllSchedulesPass(Scenario(name: "hand-on skips later waiters", threadCount: 4) { _ in
            let cond = Condition()
            let first = ConditionLog()
            let later = ConditionLog()
            let firstWaiting = Box(false)
            let hookCalled = Box(false)
            let notified = Box(false)
            let laterWaiting = Box(false)
            let issued = Box(0)
            return Scenario.Run(
                bodies: [
                    {
                        cond.acquire()
                        firstWaiting.value = true
                        let outcome = (try? cond.wait(timeout: nil, interrupt: {
                            hookCalled.value = true
                            while !laterWaiting.value { spinPause() }
                            return true
                        })) ?? .timedOut
                        first.notifiesIssued = issued.value
                        first.record(outcome)
                        try? cond.release()
                    },
                    {
                        spinUntilUnderLock(cond) { firstWaiting.value }
                        cond.interruptWaiters()
                    },
                    {
                        while !hookCalled.value { spinPause() }
                        cond.acquire()
                        issued.value += (try? cond.notify(1)) ?? 0
                        notified.value = true
                        try? cond.release()
                    },
                    {
                        while !notified.value { spinPause() }
                        cond.acquire()
                        laterWaiting.value = true
                        let outcome = (try? cond.wait(timeout: .milliseconds(1), interrupt: nil)) ?? .interrupted
                        later.record(outcome)
                        try? cond.release()
                    },
                ],
                check: {
                    if let v = first.verdict() { return v }
                    return later.notified == 0 ? nil : "a thread that started waiting after the notify got it"
                })
        })
    }

    /// The wait still counts as in progress (what a free checks) while it
    /// takes the lock back.
    func testWaitCountsAsInProgressWhileRestoringTheLock() {
        assertAllSchedulesPass(Scenario(name: "in progress while restoring", threadCount: 2) { _ in
            let inner = Lock()
            let waiterThread = Box(0)
            let inWait = Box(false)
            let countsSeenByRestore = Box<[Int]>([])
            let condBox = Box<Condition?>(nil)
            let lock = ForeignLock(
                acquire: {
                    if inWait.value, currentThreadID() == waiterThread.value, let cond = condBox.value {
                        countsSeenByRestore.value.append(cond.waitingThreadCount)
                    }
                    inner.acquire()
                },
                release: { () throws(DupThreadingError) in try inner.release() },
                isHeld: { inner.isHeldByCurrentThread == true })
            let cond = Condition(lock: lock)
            condBox.value = cond
            let log = ConditionLog()
            return Scenario.Run(
                bodies: [
                    {
                        cond.acquire()
                        waiterThread.value = currentThreadID()
                        log.entered += 1
                        inWait.value = true
                        log.record((try? cond.wait(timeout: .seconds(1), interrupt: nil)) ?? .interrupted)
                        inWait.value = false
                        try? cond.release()
                    },
                    notifier(cond, log, n: 1) { $0.entered == 1 },
                ],
                check: {
                    condBox.value = nil
                    if let v = log.verdict() { return v }
                    let seen = countsSeenByRestore.value
                    return seen.count == 1 && seen[0] > 0
                        ? nil : "the wait took its lock back while counted as in progress \(seen) times"
                })
        })
    }

    /// A signal that lands while the waiter is between a wake-up and its next
    /// park is seen by the 25 ms check, not two seconds later. After a
    /// scheduled check the next one is 2 s away by design, so the bound is
    /// 25 ms only when no scheduled check came between the first signal's
    /// wake-up and the second signal.
    func testSignalAfterAWakeUpIsSeenWithinTheFirstCheck() {
        // No extra disturbances: the scenario counts the signals it sends.
        assertAllSchedulesPass(Scenario(name: "signal after a wake-up", threadCount: 2, offerDisturbances: false) { sched in
            let cond = Condition()
            let signalAt = Box<UInt64?>(nil)
            let returnedAt = Box<UInt64?>(nil)
            let handlersRun = Box(0)
            let checksAtFirstHandler = Box(0)
            let checksAtSecondSignal = Box(0)
            let outcome = Box<WaitOutcome?>(nil)
            return Scenario.Run(
                bodies: [
                    {
                        // The hook runs pending "handlers"; the second raises.
                        let hook: InterruptHook = {
                            guard sched.takeSignal(0) else { return false }
                            handlersRun.value += 1
                            if handlersRun.value == 1 { checksAtFirstHandler.value = sched.timeoutsFired(0) }
                            return handlersRun.value >= 2
                        }
                        cond.acquire()
                        outcome.value = try? cond.wait(timeout: nil, interrupt: hook)
                        returnedAt.value = sched.virtualNow
                        try? cond.release()
                    },
                    {
                        // The first signal ends a park: the hook runs its
                        // handler and says go on.
                        sched.deliverSignalWhileParked(to: 0)
                        // Once that handler has run, signal again: the waiter
                        // is between the wake-up and its next park, or parked.
                        while handlersRun.value < 1 { spinPause() }
                        checksAtSecondSignal.value = sched.deliverSignal(to: 0)
                        signalAt.value = sched.virtualNow
                    },
                ],
                check: {
                    guard outcome.value == .interrupted, let sent = signalAt.value, let back = returnedAt.value else {
                        return "the wait ended with \(String(describing: outcome.value))"
                    }
                    let bound: UInt64 = checksAtSecondSignal.value == checksAtFirstHandler.value
                        ? 25_000_000 : 2_025_000_000
                    let delay = back - sent
                    return delay <= bound ? nil : "the signal was seen \(delay / 1_000_000) ms after it landed"
                })
        })
    }
}
#endif
