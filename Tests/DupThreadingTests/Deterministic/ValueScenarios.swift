// Value and async split scenarios for the deterministic scheduler.

#if DUPTHREADING_SCHEDULE
@testable import DupThreading
import XCTest

final class ValueScheduleTests: XCTestCase {
    /// Transforms, sets and gets racing: every transform's increment lands
    /// (none is lost to a set that does not reset the count), gets see only
    /// values that were stored, and the lock is free at the end.
    func testTransformsSetsAndGetsAreAtomic() {
        assertAllSchedulesPass(Scenario(name: "transform / set / get", threadCount: 3) { sched in
            let value = Value(0)
            let seen = Box<[Int]>([])
            return Scenario.Run(
                bodies: [
                    { for _ in 0..<2 { value.transform { $0 + 1 } } },
                    { value.transform { $0 + 10 } },
                    {
                        seen.value.append(value.get())
                        sched.point()
                        seen.value.append(value.get())
                    },
                ],
                check: {
                    if value.isBusy { return "the Value is still held" }
                    if value.get() != 12 { return "final value \(value.get()), not 12" }
                    let possible: Set = [0, 1, 2, 10, 11, 12]
                    if let bad = seen.value.first(where: { !possible.contains($0) }) { return "a get saw \(bad)" }
                    return seen.value == seen.value.sorted() ? nil : "gets went backwards: \(seen.value)"
                })
        })
    }

    /// Reentrant use inside a transform (get, nested transform, acquire and
    /// release of a level of its own) while another thread sets: consistent,
    /// and a release of the transform's own level is refused.
    func testReentrancyAndReleaseInsideTransform() {
        assertAllSchedulesPass(Scenario(name: "reentrancy inside transform", threadCount: 2) { _ in
            let value = Value(1)
            let refused = Box<DupThreadingError?>(nil)
            return Scenario.Run(
                bodies: [
                    {
                        value.transform { current in
                            let inner = value.get()
                            value.acquire()
                            try? value.release()
                            do throws(DupThreadingError) { try value.release() } catch { refused.value = error }
                            return current + inner
                        }
                    },
                    { value.set(5) },
                ],
                check: {
                    if value.isBusy { return "the Value is still held" }
                    if refused.value != .heldByOperation {
                        return "a release inside the transform gave \(String(describing: refused.value))"
                    }
                    // Either the transform ran first (2, then set 5) or second (5 + 5).
                    return [5, 10].contains(value.get()) ? nil : "final value \(value.get())"
                })
        })
    }

    /// An async split published while waiters wait with timeouts and with
    /// none: every waiter that does not time out gets the result, exactly
    /// once computed; a timed-out waiter sees the outcome afterwards.
    func testAsyncSplitPublishAgainstTimedWaiters() {
        assertAllSchedulesPass(Scenario(name: "async split publish vs waiters", threadCount: 3) { _ in
            let runs = Box(0)
            let (waiter, caller) = asyncSplit { () -> Int in runs.value += 1; return 7 }
            let results = Box<[String]>([])
            return Scenario.Run(
                bodies: [
                    { _ = try? caller() },
                    {
                        switch Result(catching: { () throws(DupThreadingError) in
                            try waiter.waitForResult(timeout: .milliseconds(1), interrupt: nil)
                        }) {
                        case .success(let r): results.value.append((try? r.get()) == 7 ? "7" : "bad")
                        case .failure(let e): results.value.append(e == .timedOut ? "timeout" : "bad")
                        }
                    },
                    { results.value.append((try? waiter()) == 7 ? "7" : "bad") },
                ],
                check: {
                    if runs.value != 1 { return "the function ran \(runs.value) times" }
                    if results.value.contains("bad") { return "outcomes: \(results.value)" }
                    return (try? waiter.finishedOutcome()?.get()) == 7 ? nil : "no outcome after the caller ran"
                })
        })
    }

    /// A caller dropped without running, racing waiters: every waiter gets
    /// `abandoned` (none blocks forever).
    func testAsyncSplitAbandonAgainstWaiters() {
        assertAllSchedulesPass(Scenario(name: "async split abandon vs waiters", threadCount: 3) { _ in
            let (waiter, callerToDrop) = asyncSplit { () -> Int in 1 }
            let holder = Box<AsyncCaller<Int>?>(callerToDrop)
            let results = Box<[DupThreadingError?]>([])
            let wait: @Sendable () -> Void = {
                do {
                    _ = try waiter()
                    results.value.append(nil)
                } catch {
                    results.value.append(error as? DupThreadingError)
                }
            }
            return Scenario.Run(
                bodies: [{ holder.value = nil }, wait, wait],
                check: {
                    results.value == [.abandoned, .abandoned] ? nil : "waiters got \(results.value)"
                })
        })
    }
}
#endif
