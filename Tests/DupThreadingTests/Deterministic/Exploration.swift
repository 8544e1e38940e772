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
    /// Whether the scheduler may also end parks spuriously or with a signal.
    var offerDisturbances = false
    var maxSteps = 20_000
    /// Builds fresh objects for one execution.
    let make: (DeterministicScheduler) -> Run
}

/// What an exploration found.
struct ExplorationReport: CustomStringConvertible {
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
        var text = "\(schedules) schedules" + (exhaustive ? " (every schedule within the preemption bound)" : "")
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
        _ scenario: Scenario, _ strategy: any ChoiceStrategy
    ) -> (failure: String?, trace: [Choice], strategy: any ChoiceStrategy) {
        let scheduler = DeterministicScheduler(
            threadCount: scenario.threadCount, strategy: strategy,
            maxSteps: scenario.maxSteps, offerDisturbances: scenario.offerDisturbances)
        let run = scenario.make(scheduler)
        scheduler.run(run.bodies)
        let failure = scheduler.failure ?? run.check()
        return (failure, scheduler.trace, scheduler.finalStrategy)
    }

    /// Every schedule with at most `preemptions` preemptions, depth first,
    /// until `budget` schedules have run or one fails.
    static func systematic(_ scenario: Scenario, preemptions: Int, budget: Int) -> ExplorationReport {
        var report = ExplorationReport()
        var prefix: [Choice]? = []
        while let current = prefix, report.schedules < budget {
            let (failure, trace, strategy) = runOnce(scenario, ReplayStrategy(prefix: current))
            report.schedules += 1
            if let failure {
                report.failure = failure
                report.failingTrace = trace
                return report
            }
            prefix = nextPrefix(after: (strategy as! ReplayStrategy).decisions, preemptions: preemptions)
        }
        report.exhaustive = prefix == nil
        return report
    }

    /// Random schedules from seeds `seeds`: odd seeds by PCT, even seeds by
    /// a uniform random walk.
    static func random(_ scenario: Scenario, seeds: Range<UInt64>) -> ExplorationReport {
        var report = ExplorationReport()
        for seed in seeds {
            let strategy: any ChoiceStrategy = seed % 2 == 1 ? PCTStrategy(seed: seed) : RandomStrategy(seed: seed)
            let (failure, trace, _) = runOnce(scenario, strategy)
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
        after decisions: [(options: [Choice], chosen: Int, current: Int?)], preemptions bound: Int
    ) -> [Choice]? {
        func isPreemption(_ choice: Choice, _ current: Int?) -> Bool {
            guard let current else { return false }
            return choice.thread != current || choice.kind != .run
        }
        var before: [Int] = []
        var count = 0
        for d in decisions {
            before.append(count)
            if isPreemption(d.options[d.chosen], d.current) { count += 1 }
        }
        for k in decisions.indices.reversed() {
            let d = decisions[k]
            for alternative in d.options[(d.chosen + 1)...] {
                if before[k] + (isPreemption(alternative, d.current) ? 1 : 0) <= bound {
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
        let (failure, _, _) = Exploration.runOnce(scenario, ReplayStrategy(prefix: trace))
        print("[schedule] \(scenario.name): replayed trace: \(failure ?? "passed")")
        if let failure { XCTFail("\(scenario.name): \(failure)", file: file, line: line) }
        return
    }
    if let text = getenv("DT_SCHEDULE_SEED").map({ String(cString: $0) }), let seed = UInt64(text) {
        let report = Exploration.random(scenario, seeds: seed..<(seed + 1))
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
    let random = Exploration.random(scenario, seeds: 1..<(1 + UInt64(budget.randomSchedules)))
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
        + "\"exhaustive\":\(systematic.exhaustive),\"random\":\(random.schedules),"
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
