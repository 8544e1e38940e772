// A deterministic scheduler for the core's scheduling points (see
// Sources/DupThreading/ScheduleHooks.swift), in the manner of folly's
// DeterministicSchedule and loom: the threads of a scenario are real pthreads,
// but exactly one runs at a time. At every scheduling point (each operation on
// a shared word, each futex park and wake) the running thread stops and the
// scheduler picks which thread goes next. Futex parks become scheduler waits,
// and time is virtual: when the scheduler lets a parked thread's deadline
// pass, the clock jumps to it, so a 1 s timeout costs nothing.
//
// Executions are sequentially consistent (one thread at a time): the scheduler
// explores interleavings of atomic steps, not weak-memory reorderings.

#if DUPTHREADING_SCHEDULE
@testable import DupThreading
import Glibc
import Synchronization

/// One choice of the scheduler: which thread runs next, and, for a parked
/// thread, why its park ends.
struct Choice: Equatable, CustomStringConvertible {
    enum Kind: Int { case run = 0, timeout = 1, spurious = 2, signal = 3, handler = 4 }
    let thread: Int
    let kind: Kind

    /// The compact form used in printed traces: thread + 10 * kind.
    var code: Int { thread + 10 * kind.rawValue }
    init(thread: Int, kind: Kind) { self.thread = thread; self.kind = kind }
    init?(code: Int) {
        guard code >= 0, let kind = Kind(rawValue: code / 10) else { return nil }
        self.init(thread: code % 10, kind: kind)
    }
    var description: String { String(code) }
}

/// How a scheduler picks among its options at each decision.
protocol ChoiceStrategy {
    /// Picks one of `options` (never empty). `current` is the thread that was
    /// running, if it may go on; switching away from it is a preemption.
    /// `yielding` is the thread that is only busy-waiting, if any.
    mutating func choose(_ options: [Choice], current: Int?, yielding: Int?) -> Choice
}

/// Picks uniformly at random from a seed. Spurious wake-ups and signals to
/// parked threads are offered with a small probability when `disturb` is set.
struct RandomStrategy: ChoiceStrategy {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    /// SplitMix64.
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform among running threads and passing deadlines; a disturbance
    /// (a spurious wake-up, a signal, a signal handler) one time in 16.
    mutating func choose(_ options: [Choice], current: Int?, yielding: Int?) -> Choice {
        let base = options.filter { $0.kind == .run || $0.kind == .timeout }
        let extra = options.filter { $0.kind != .run && $0.kind != .timeout }
        if !extra.isEmpty, base.isEmpty || next() % 16 == 0 {
            return extra[Int(next() % UInt64(extra.count))]
        }
        return base[Int(next() % UInt64(base.count))]
    }
}

/// Probabilistic concurrency testing (PCT): threads get random priorities and
/// the highest-priority runnable thread runs; at `depth - 1` random steps the
/// running thread drops to the lowest priority. Few context switches per
/// schedule, each at a random place: it finds ordering bugs of small depth
/// with a known probability per schedule. Parked threads' deadlines pass when
/// nothing else can run, or now and then at random.
struct PCTStrategy: ChoiceStrategy {
    private var random: RandomStrategy
    private var priority: [Int: Int64] = [:]
    private var yields: Int64 = 0
    private var changePoints: Set<Int>
    private var step = 0

    init(seed: UInt64, depth: Int = 3, expectedSteps: Int = 200) {
        random = RandomStrategy(seed: seed)
        var points = Set<Int>()
        for _ in 1..<depth { points.insert(Int(random.next() % UInt64(expectedSteps))) }
        changePoints = points
    }

    mutating func choose(_ options: [Choice], current: Int?, yielding: Int?) -> Choice {
        step += 1
        if changePoints.contains(step), let current { priority[current] = 0 }
        // A thread that only busy-waits drops below every other: it waits
        // for one of them.
        if let yielding {
            yields += 1
            priority[yielding] = -yields
        }
        let runnable = options.filter { $0.kind == .run }
        let others = options.filter { $0.kind != .run }
        if !others.isEmpty, runnable.isEmpty || random.next() % 16 == 0 {
            return others[Int(random.next() % UInt64(others.count))]
        }
        for choice in runnable where priority[choice.thread] == nil {
            priority[choice.thread] = Int64(1 + random.next() % (1 << 32))
        }
        return runnable.max { priority[$0.thread]! < priority[$1.thread]! }!
    }
}

/// Follows a recorded list of choices, then keeps to the running thread (no
/// preemption) once the list is used up. Records every decision, so that a
/// systematic search can branch from it.
struct ReplayStrategy: ChoiceStrategy {
    let prefix: [Choice]
    private(set) var decisions: [(options: [Choice], chosen: Int, current: Int?, yielding: Int?)] = []
    /// The first step at which the recorded choice was not offered (the
    /// replay then diverged from the recording), if any.
    private(set) var divergedAt: Int?

    init(prefix: [Choice]) { self.prefix = prefix }

    mutating func choose(_ options: [Choice], current: Int?, yielding: Int?) -> Choice {
        let i = decisions.count
        var index = 0
        if i < prefix.count {
            if let k = options.firstIndex(of: prefix[i]) { index = k } else if divergedAt == nil { divergedAt = i }
        }
        decisions.append((options, index, current, yielding))
        return options[index]
    }
}

/// The scheduler of one execution of a scenario.
final class DeterministicScheduler: ScheduleHooks, @unchecked Sendable {
    enum Status { case notStarted, runnable, parked, finished }

    struct ThreadState {
        var status = Status.notStarted
        var parkedOn: UnsafeMutableRawPointer?
        var deadline: UInt64?       // virtual; nil for no deadline
        var parkedAt = 0            // order of parking, for FIFO wakes
        var result = FutexWord.ParkResult.woken
        var signalPending = false   // a "signal handler ran" flag, for hooks
        var yielding = false        // in a busy-wait turn
        var timeoutsFired = 0       // parks of this thread ended by their deadline
        var handler: (() -> Void)?  // a "signal handler" to run at one of its points
        var runHandler = false      // chosen: run it at this point
    }

    // Everything below is guarded by `mutex`.
    private var mutex = pthread_mutex_t()
    /// One condition per thread, signalled when that thread gets the turn,
    /// and one for the thread that runs the scenario (`control`).
    private let turns: UnsafeMutablePointer<pthread_cond_t>
    private var control = pthread_cond_t()
    /// Never signalled: where the threads of a failed run stay.
    private var limbo = pthread_cond_t()
    private var threads: [ThreadState]
    private var running = -1
    private var parkCounter = 0
    private var strategy: any ChoiceStrategy
    private(set) var trace: [Choice] = []
    private(set) var failure: String?
    private var steps = 0
    private var freed: [Range<UInt>] = []
    private let maxSteps: Int
    private let offerDisturbances: Bool
    /// The virtual clock, in nanoseconds.
    private(set) var clock: UInt64 = 1_000_000_000_000

    init(threadCount: Int, strategy: any ChoiceStrategy, maxSteps: Int = 20_000, offerDisturbances: Bool = false) {
        precondition(threadCount <= 10, "a trace code holds thread indices 0...9")
        threads = Array(repeating: ThreadState(), count: threadCount)
        self.strategy = strategy
        self.maxSteps = maxSteps
        self.offerDisturbances = offerDisturbances
        turns = .allocate(capacity: threadCount)
        for t in 0..<threadCount { pthread_cond_init(turns + t, nil) }
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&control, nil)
        pthread_cond_init(&limbo, nil)
    }

    deinit {
        for t in threads.indices { pthread_cond_destroy(turns + t) }
        turns.deallocate()
        pthread_cond_destroy(&control)
        pthread_mutex_destroy(&mutex)
    }

    /// The strategy, for reading what it recorded after the run.
    var finalStrategy: any ChoiceStrategy { locked { strategy } }

    // MARK: Running a scenario

    /// Runs `bodies` (one per thread) under this scheduler. Returns once every
    /// thread has finished, or a failure (deadlock, step limit, a failed
    /// expectation) was recorded, or `realTimeout` passed. Threads of a failed
    /// run stay blocked and are leaked: a failed run fails its test.
    func run(_ bodies: [@Sendable () -> Void], realTimeout: Duration = .seconds(20)) {
        precondition(bodies.count == threads.count)
        var handles: [pthread_t] = []
        for (index, body) in bodies.enumerated() {
            let context = ThreadContext(scheduler: self, index: index, body: body)
            var handle = pthread_t()
            let rc = pthread_create(&handle, nil, { raw in
                let context = Unmanaged<ThreadContext>.fromOpaque(raw!).takeRetainedValue()
                context.scheduler.threadMain(context.index, context.body)
                return nil
            }, Unmanaged.passRetained(context).toOpaque())
            precondition(rc == 0, "pthread_create failed: \(rc)")
            handles.append(handle)
        }
        locked {
            while threads.contains(where: { $0.status == .notStarted }) { pthread_cond_wait(&control, &mutex) }
            decide(current: nil)
        }
        let finished = waitForEnd(realTimeout)
        if finished {
            for h in handles { pthread_join(h, nil) }
        } else {
            for h in handles { pthread_detach(h) }
        }
    }

    private final class ThreadContext {
        let scheduler: DeterministicScheduler
        let index: Int
        let body: @Sendable () -> Void
        init(scheduler: DeterministicScheduler, index: Int, body: @escaping @Sendable () -> Void) {
            self.scheduler = scheduler
            self.index = index
            self.body = body
        }
    }

    private func threadMain(_ me: Int, _ body: () -> Void) {
        ScheduleContext.install(self)
        locked {
            threads[me].status = .runnable
            pthread_cond_signal(&control)
            waitForTurn(me)
        }
        body()
        locked {
            threads[me].status = .finished
            decide(current: nil)
        }
        ScheduleContext.install(nil)
    }

    /// Whether every thread finished (true) or the run failed or got stuck.
    private func waitForEnd(_ timeout: Duration) -> Bool {
        let end = MonotonicInstant.now().advanced(by: UInt64(timeout.components.seconds) * 1_000_000_000)
        return locked {
            while failure == nil, !threads.allSatisfy({ $0.status == .finished }) {
                var spec = timespec()
                clock_gettime(CLOCK_REALTIME, &spec)
                spec.tv_nsec += 50_000_000
                if spec.tv_nsec >= 1_000_000_000 { spec.tv_sec += 1; spec.tv_nsec -= 1_000_000_000 }
                pthread_cond_timedwait(&control, &mutex, &spec)
                if MonotonicInstant.now() >= end, failure == nil {
                    failure = "stuck: no progress within \(timeout) of real time (a thread blocked outside the scheduler?)"
                }
            }
            return failure == nil
        }
    }

    // MARK: Scenario helpers (called by a running scenario thread)

    /// Records a failed expectation (the first one wins).
    func expect(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { locked { if failure == nil { failure = message() } } }
    }

    /// Delivers a "signal" to thread `t`: its signal flag is set (as a
    /// handler would set one) and, if it is parked, its park ends with
    /// `.signalled`. A scheduling point first. Returns how many of `t`'s
    /// parks had ended by their deadline when the signal landed.
    @discardableResult
    func deliverSignal(to t: Int) -> Int {
        point()
        return locked {
            if getenv("DT_SCHEDULE_DEBUG") != nil { print("[sched] signal to t\(t) at \(clock), parked: \(threads[t].status == .parked)") }
            threads[t].signalPending = true
            if threads[t].status == .parked { unpark(t, .signalled) }
            return threads[t].timeoutsFired
        }
    }

    /// Reads and clears the calling thread's signal flag: an interrupt hook
    /// that stands for "run the pending signal handlers; did one ask to stop?".
    func takeSignal(_ me: Int) -> Bool {
        locked {
            if getenv("DT_SCHEDULE_DEBUG") != nil { print("[sched] t\(me) hook at \(clock): \(threads[me].signalPending)") }
            defer { threads[me].signalPending = false }
            return threads[me].signalPending
        }
    }

    /// Delivers a signal to thread `t` at a moment when it is parked (its
    /// park ends with `.signalled`), busy-waiting until it is.
    func deliverSignalWhileParked(to t: Int) {
        while true {
            point()
            let delivered = locked {
                guard threads[t].status == .parked else { return false }
                threads[t].signalPending = true
                unpark(t, .signalled)
                return true
            }
            if delivered { return }
            spinPause()
        }
    }

    /// Marks `byteCount` bytes at `base` as freed: a later operation of the
    /// core on a shared word there fails the run ("use after free"). A
    /// scenario calls this where a C handle's free would have succeeded.
    func markFreed(_ base: UnsafeRawPointer, byteCount: Int) {
        locked {
            let start = UInt(bitPattern: base)
            freed.append(start..<(start + UInt(byteCount)))
        }
    }

    /// How many of thread `t`'s parks have ended by their deadline so far.
    func timeoutsFired(_ t: Int) -> Int { locked { threads[t].timeoutsFired } }

    /// The virtual time, for scenario assertions.
    var virtualNow: UInt64 { locked { clock } }

    // MARK: ScheduleHooks

    func point(_ address: UnsafeRawPointer? = nil) {
        let handler = locked { () -> (() -> Void)? in
            if failure != nil { waitForever() }
            if let address, let range = freed.first(where: { $0.contains(UInt(bitPattern: address)) }) {
                fail("use after free: thread \(running) operated on a shared word at offset "
                    + "\(UInt(bitPattern: address) - range.lowerBound) of memory a free had released")
                waitForever()
            }
            let me = running
            decide(current: me)
            waitForTurn(me)
            guard threads[me].runHandler else { return nil }
            threads[me].runHandler = false
            defer { threads[me].handler = nil }
            return threads[me].handler
        }
        // A signal handler runs on the thread, in the middle of whatever it
        // was doing: here, just before its next operation on a shared word.
        handler?()
    }

    /// Installs a one-shot "signal handler" for thread `t`: the scheduler
    /// may run it on `t` at any of `t`'s scheduling points (each is a choice
    /// it explores), as an asynchronous signal would land between two of its
    /// instructions. It runs at most once; it may never run if `t` finishes
    /// first.
    func setSignalHandler(for t: Int, _ body: @escaping () -> Void) {
        locked { threads[t].handler = body }
    }

    func spinPause() {
        locked {
            let me = running
            threads[me].yielding = true
            decide(current: me)
            threads[me].yielding = false
            waitForTurn(me)
        }
    }

    func park(_ word: UnsafeMutableRawPointer, expected: UInt32, deadline: MonotonicInstant) -> FutexWord.ParkResult {
        point(UnsafeRawPointer(word))
        return locked {
            let me = running
            if word.load(as: UInt32.self) != expected { return .woken }
            let limit: UInt64? = deadline == .distantFuture ? nil : deadline.nanoseconds
            if let limit, limit <= clock { return .timedOut }
            if getenv("DT_SCHEDULE_DEBUG") != nil {
                print("[sched] t\(me) parks at \(clock) until \(limit.map { String($0 - clock) } ?? "never")")
            }
            parkCounter += 1
            threads[me].status = .parked
            threads[me].parkedOn = word
            threads[me].deadline = limit
            threads[me].parkedAt = parkCounter
            decide(current: nil)
            waitForTurn(me)
            return threads[me].result
        }
    }

    func wake(_ word: UnsafeMutableRawPointer, count: Int32) {
        // No liveness check: a wake may reach a word whose memory is gone,
        // which is harmless (nobody parks there, or a spurious wake-up).
        point()
        locked {
            let parked = threads.indices
                .filter { threads[$0].status == .parked && threads[$0].parkedOn == word }
                .sorted { threads[$0].parkedAt < threads[$1].parkedAt }
            for t in parked.prefix(Int(count)) { unpark(t, .woken) }
        }
    }

    func now() -> MonotonicInstant { locked { MonotonicInstant(nanoseconds: clock) } }

    // MARK: Deciding (with `mutex` held)

    private func unpark(_ t: Int, _ result: FutexWord.ParkResult) {
        threads[t].status = .runnable
        threads[t].parkedOn = nil
        threads[t].deadline = nil
        threads[t].result = result
    }

    /// The options at this point, in the canonical order a systematic search
    /// relies on: the current thread first (no preemption), then the other
    /// runnable threads, then the parked thread(s) whose deadline comes
    /// first, then the current thread if it is only busy-waiting, then (if
    /// offered) disturbances of parked threads.
    private func options(current: Int?) -> [Choice] {
        var result: [Choice] = []
        let runnable = threads.indices.filter { threads[$0].status == .runnable }
        let currentGoesOn = current.map { runnable.contains($0) } ?? false
        let currentYields = current.map { threads[$0].yielding } ?? false
        if currentGoesOn, !currentYields { result.append(Choice(thread: current!, kind: .run)) }
        result += runnable.filter { $0 != current }.map { Choice(thread: $0, kind: .run) }
        if let current, currentGoesOn, threads[current].handler != nil {
            result.append(Choice(thread: current, kind: .handler))
        }
        let timed = threads.indices.filter { threads[$0].status == .parked && threads[$0].deadline != nil }
        if let earliest = timed.map({ threads[$0].deadline! }).min() {
            result += timed.filter { threads[$0].deadline == earliest }.map { Choice(thread: $0, kind: .timeout) }
        }
        // A thread in a busy-wait turn goes on last: time passes first.
        if currentGoesOn, currentYields { result.append(Choice(thread: current!, kind: .run)) }
        // Disturbances are never the only way on: a lost wake-up must still
        // show as a deadlock.
        if offerDisturbances, !result.isEmpty {
            for t in threads.indices where threads[t].status == .parked {
                result.append(Choice(thread: t, kind: .spurious))
                result.append(Choice(thread: t, kind: .signal))
            }
        }
        return result
    }

    /// Picks the next thread and hands it the turn.
    private func decide(current: Int?) {
        if threads.allSatisfy({ $0.status == .finished }) {
            running = -1
            pthread_cond_signal(&control)
            return
        }
        steps += 1
        if steps > maxSteps {
            fail("step limit: more than \(maxSteps) scheduling points (a livelock?)")
            return
        }
        let options = options(current: current)
        guard !options.isEmpty else {
            let stuck = threads.indices.filter { threads[$0].status == .parked }
            fail("deadlock: threads \(stuck) parked with no deadline and nobody to wake them")
            return
        }
        // Switching away from a thread in a busy-wait turn is no preemption.
        let yielding = current.flatMap { threads[$0].yielding ? $0 : nil }
        let preemptible = yielding == nil ? current : nil
        let choice = strategy.choose(options, current: preemptible, yielding: yielding)
        trace.append(choice)
        switch choice.kind {
        case .run: break
        case .timeout:
            clock = max(clock, threads[choice.thread].deadline!)
            threads[choice.thread].timeoutsFired += 1
            unpark(choice.thread, .timedOut)
        case .spurious: unpark(choice.thread, .woken)
        case .handler: threads[choice.thread].runHandler = true
        case .signal:
            threads[choice.thread].signalPending = true
            unpark(choice.thread, .signalled)
        }
        running = choice.thread
        if choice.thread != current { pthread_cond_signal(turns + choice.thread) }
    }

    private func fail(_ message: String) {
        if failure == nil { failure = message }
        running = -1
        pthread_cond_signal(&control)
    }

    private func waitForTurn(_ me: Int) {
        while running != me { pthread_cond_wait(turns + me, &mutex) }
    }

    /// A thread of a failed run: it never runs again.
    private func waitForever() -> Never {
        while true { pthread_cond_wait(&limbo, &mutex) }
    }

    private func locked<R>(_ body: () -> R) -> R {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return body()
    }
}
#endif
