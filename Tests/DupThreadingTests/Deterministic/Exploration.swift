// Drives scenarios through many schedules of the deterministic scheduler:
// systematically (every schedule up to a bound on preemptions, as CHESS and
// loom do, until a budget of schedules is spent) and by random walks from
// seeds (PCT and uniform walks). A failing schedule is reported with its trace, which replays it:
//
//   DT_SCHEDULE_TRACE='0,1,1,10,2' swift test --filter ConditionScheduleTests/testNotifyWakesExactlyN
//
// (a long trace is written to a file and given as DT_SCHEDULE_TRACE=@path)
//
// replays one trace; DT_SCHEDULE_SEED=N replays one random schedule;
// DT_SCHEDULE_LONG=1 explores far more schedules, DT_SCHEDULE_QUICK=1 far
// fewer (docs/reliability.md).

#if DUPTHREADING_SCHEDULE
import Glibc
import XCTest

/// A small concurrent program over the core, with its invariants.
struct Scenario {
    /// One execution's threads, and the check of its invariants once every
    /// thread has finished (nil: all held; otherwise what broke).
    struct Run {
        let bodies: [@Sendable () -> Void]
        let check: () -> String?
    }

    let name: String
    let threadCount: Int
    /// Whether random schedules may also end parks spuriously or with a
    /// signal (systematic ones never do: it would not bound the search).
    var offerDisturbances = true
    var maxSteps = 20_000
    /// Builds fresh objects for one execution.
    let make: (DeterministicScheduler) -> Run
}

/// What an exploration found.
struct ExplorationReport: CustomStringConvertible {
    /// How many steps the first (non-preemptive) schedule took.
    var firstScheduleLength = 0
    /// Whether every schedule with at most 1 preemption ran.
    var exhaustiveLowerBounds = false
    /// The failing trace as DT_SCHEDULE_TRACE takes it: inline when short,
    /// otherwise written to a file named as `@path`.
    var traceArgument: String {
        let text = failingTrace.map(\.description).joined(separator: ",")
        guard failingTrace.count > 200 else { return text }
        let path = "/tmp/dt-schedule-\(getpid())-\(failingTrace.count).trace"
        guard let file = fopen(path, "w") else { return "(\(failingTrace.count) choices; could not write \(path))" }
        fputs(text, file)
        fclose(file)
        return "@" + path
    }

    var schedules = 0
    var exhaustive = false
    var failure: String?
    var failingTrace: [Choice] = []
    var failingSeed: UInt64?

    var description: String {
        var text = "\(schedules) schedules" + (exhaustive ? " (every schedule within the preemption bound)"
            : exhaustiveLowerBounds ? " (every schedule with 1 preemption, then some with 2)" : "")
        if let failure {
            text += "\nFAILED: \(failure)\n  trace: DT_SCHEDULE_TRACE='\(traceArgument)'"
            if let failingSeed { text += "\n  seed: DT_SCHEDULE_SEED=\(failingSeed)" }
        }
        return text
    }
}

enum Exploration {
    /// Runs one execution of `scenario` under `strategy`.
    static func runOnce(
        _ scenario: Scenario, _ strategy: any ChoiceStrategy, disturb: Bool = false
    ) -> (failure: String?, trace: [Choice], strategy: any ChoiceStrategy) {
        let scheduler = DeterministicScheduler(
            threadCount: scenario.threadCount, strategy: strategy,
            maxSteps: scenario.maxSteps, offerDisturbances: disturb && scenario.offerDisturbances)
        let run = scenario.make(scheduler)
        scheduler.run(run.bodies)
        let failure = scheduler.failure ?? run.check()
        return (failure, scheduler.trace, scheduler.finalStrategy)
    }

    /// Schedules with one preemption, then with up to `preemptions`
    /// (iterative context bounding, as CHESS does), until `budget` schedules
    /// in all have run or one fails. The one-preemption schedules are taken
    /// by the position of the preemption from the start of the run (all of
    /// them if the budget allows, else evenly spaced ones), so that early
    /// orderings are covered as well as late ones; the rest of the budget
    /// goes to a depth-first search at the full bound.
    static func systematic(_ scenario: Scenario, preemptions: Int, budget: Int) -> ExplorationReport {
        var report = ExplorationReport()
        func run(_ prefix: [Choice]) -> ReplayStrategy? {
            let (failure, trace, strategy) = runOnce(scenario, ReplayStrategy(prefix: prefix))
            report.schedules += 1
            if report.firstScheduleLength == 0 { report.firstScheduleLength = trace.count }
            if let failure {
                report.failure = failure
                report.failingTrace = trace
                return nil
            }
            return (strategy as! ReplayStrategy)
        }
        // The schedule without preemption, and every single preemption of it.
        guard let base = run([]) else { return report }
        var singles: [[Choice]] = []
        for (k, d) in base.decisions.enumerated() where d.current != nil {
            let prefix = base.decisions[..<k].map { $0.options[$0.chosen] }
            for alternative in d.options where alternative != d.options[d.chosen] {
                singles.append(prefix + [alternative])
            }
        }
        let share = Swift.max(1, (budget - 1) / 2)
        let stride = Swift.max(1, (singles.count + share - 1) / share)
        for i in Swift.stride(from: 0, to: singles.count, by: stride) where report.schedules < budget {
            if run(singles[i]) == nil { return report }
        }
        report.exhaustiveLowerBounds = stride == 1 && report.schedules == singles.count + 1
        // Depth first at the full bound with what is left.
        var prefix: [Choice]? = []
        while let current = prefix, report.schedules < budget {
            guard let strategy = run(current) else { return report }
            prefix = nextPrefix(after: strategy.decisions, preemptions: preemptions)
        }
        report.exhaustive = prefix == nil
        return report
    }

    /// Random schedules from seeds `seeds`: odd seeds by PCT (with change
    /// points spread over `expectedSteps`), even seeds by a uniform random
    /// walk; both may disturb parks.
    static func random(_ scenario: Scenario, seeds: Range<UInt64>, expectedSteps: Int = 200) -> ExplorationReport {
        var report = ExplorationReport()
        for seed in seeds {
            let strategy: any ChoiceStrategy = seed % 2 == 1
                ? PCTStrategy(seed: seed, expectedSteps: Swift.max(expectedSteps, 20)) : RandomStrategy(seed: seed)
            let (failure, trace, _) = runOnce(scenario, strategy, disturb: true)
            report.schedules += 1
            if let failure {
                report.failure = failure
                report.failingTrace = trace
                report.failingSeed = seed
                return report
            }
        }
        return report
    }

    /// The next schedule of a depth-first search: the deepest decision with
    /// an untried option that stays within the preemption bound.
    static func nextPrefix(
        after decisions: [(options: [Choice], chosen: Int, current: Int?, yielding: Int?)], preemptions bound: Int
    ) -> [Choice]? {
        // A preemption: switching away from a thread that could go on, or
        // keeping a ready thread waiting while time passes (firing a
        // deadline) or while a busy-waiting thread spins on. The last two keep
        // the search fair: otherwise a waiter whose periodic hook checks
        // re-arm for ever, or a thread spinning for a flag, could run alone
        // for ever at no cost to the bound while the thread that would let it
        // go on never gets a turn (an unfair schedule, not a livelock of the
        // code).
        func isPreemption(_ choice: Choice, _ options: [Choice], _ current: Int?, _ yielding: Int?) -> Bool {
            if let current { return choice.thread != current || choice.kind != .run }
            let othersReady = options.contains { $0.kind == .run && $0.thread != yielding }
            switch choice.kind {
            case .timeout: return othersReady
            case .run where choice.thread == yielding: return othersReady || options.contains { $0.kind == .timeout }
            default: return false
            }
        }
        var before: [Int] = []
        var count = 0
        for d in decisions {
            before.append(count)
            if isPreemption(d.options[d.chosen], d.options, d.current, d.yielding) { count += 1 }
        }
        for k in decisions.indices.reversed() {
            let d = decisions[k]
            for alternative in d.options[(d.chosen + 1)...] {
                if before[k] + (isPreemption(alternative, d.options, d.current, d.yielding) ? 1 : 0) <= bound {
                    return decisions[..<k].map { $0.options[$0.chosen] } + [alternative]
                }
            }
        }
        return nil
    }
}

/// How much to explore, from the environment.
struct ExplorationBudget {
    var preemptions = 2
    var systematicSchedules = 500
    var randomSchedules = 1_000

    /// The default; DT_SCHEDULE_LONG=1 explores far more (bound 3), and
    /// DT_SCHEDULE_QUICK=1 far less (for the sanitizer builds, where the
    /// schedules, one thread at a time, add little and cost 4 times as much).
    static var fromEnvironment: ExplorationBudget {
        var budget = ExplorationBudget()
        if getenv("DT_SCHEDULE_LONG") != nil {
            budget.preemptions = 3
            budget.systematicSchedules = 20_000
            budget.randomSchedules = 20_000
        } else if getenv("DT_SCHEDULE_QUICK") != nil {
            budget.systematicSchedules = 100
            budget.randomSchedules = 100
        }
        return budget
    }
}

/// Explores `scenario` (or replays the one schedule the environment names)
/// and fails the test with a replayable trace if any schedule breaks an
/// invariant. Prints the figures of the exploration.
func assertAllSchedulesPass(
    _ scenario: Scenario, budget: ExplorationBudget = .fromEnvironment,
    file: StaticString = #filePath, line: UInt = #line
) {
    if var text = getenv("DT_SCHEDULE_TRACE").map({ String(cString: $0) }) {
        if text.hasPrefix("@") { text = readWholeFile(String(text.dropFirst())) }
        let trace = text.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            .compactMap(Choice.init(code:))
        let (failure, _, strategy) = Exploration.runOnce(scenario, ReplayStrategy(prefix: trace))
        if let step = (strategy as? ReplayStrategy)?.divergedAt {
            print("[schedule] \(scenario.name): the replay diverged from the trace at step \(step) (not a trace of this scenario and build?)")
        }
        print("[schedule] \(scenario.name): replayed trace: \(failure ?? "passed")")
        if let failure { XCTFail("\(scenario.name): \(failure)", file: file, line: line) }
        return
    }
    if let text = getenv("DT_SCHEDULE_SEED").map({ String(cString: $0) }), let seed = UInt64(text) {
        let first = Exploration.runOnce(scenario, ReplayStrategy(prefix: [])).trace.count
        let report = Exploration.random(scenario, seeds: seed..<(seed + 1), expectedSteps: first)
        print("[schedule] \(scenario.name): seed \(seed): \(report)")
        if report.failure != nil { XCTFail("\(scenario.name): \(report)", file: file, line: line) }
        return
    }
    let start = MonotonicInstantForTests.now()
    let systematic = Exploration.systematic(
        scenario, preemptions: budget.preemptions, budget: budget.systematicSchedules)
    print("[schedule] \(scenario.name): systematic, preemption bound \(budget.preemptions): \(systematic)")
    if systematic.failure != nil {
        XCTFail("\(scenario.name): \(systematic)", file: file, line: line)
        return
    }
    let random = Exploration.random(
        scenario, seeds: 1..<(1 + UInt64(budget.randomSchedules)), expectedSteps: systematic.firstScheduleLength)
    print("[schedule] \(scenario.name): random (PCT and uniform): \(random)")
    if random.failure != nil { XCTFail("\(scenario.name): \(random)", file: file, line: line) }
    let millis = MonotonicInstantForTests.millisSince(start)
    print("[schedule] \(scenario.name): \(systematic.schedules + random.schedules) schedules in \(millis) ms")
    appendReport(scenario, budget, systematic, random, millis)
}

/// With DT_SCHEDULE_REPORT=path, appends one JSON line per explored scenario
/// to that file (scripts/schedule_report.py turns them into a table).
private func appendReport(
    _ scenario: Scenario, _ budget: ExplorationBudget,
    _ systematic: ExplorationReport, _ random: ExplorationReport, _ millis: Int
) {
    guard let path = getenv("DT_SCHEDULE_REPORT").map({ String(cString: $0) }),
          let file = fopen(path, "a") else { return }
    defer { fclose(file) }
    let failure = (systematic.failure ?? random.failure).map { "\"\($0.replacingQuotes)\"" } ?? "null"
    fputs("{\"scenario\":\"\(scenario.name)\",\"threads\":\(scenario.threadCount),"
        + "\"preemption_bound\":\(budget.preemptions),\"systematic\":\(systematic.schedules),"
        + "\"exhaustive\":\(systematic.exhaustive),\"exhaustive_bound_1\":\(systematic.exhaustiveLowerBounds || systematic.exhaustive),"
        + "\"random\":\(random.schedules),"
        + "\"failure\":\(failure),\"ms\":\(millis)}\n", file)
}

private extension String {
    var replacingQuotes: String { String(map { $0 == "\"" ? "'" : $0 }) }
}

/// The contents of a text file ("" if it cannot be read).
func readWholeFile(_ path: String) -> String {
    guard let file = fopen(path, "r") else { return "" }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = fread(&buffer, 1, buffer.count, file)
        if n == 0 { break }
        bytes += buffer[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}

enum MonotonicInstantForTests {
    static func now() -> UInt64 { nowNanos() }
    static func millisSince(_ start: UInt64) -> Int { Int((nowNanos() - start) / 1_000_000) }
}
#endif
