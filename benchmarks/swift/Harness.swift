// The measuring machinery of the Swift benchmark: a monotonic clock, a sink
// the optimizer cannot see through, calibration, and interleaved rounds that
// print one JSON line per sample.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Nanoseconds on CLOCK_MONOTONIC.
@inline(__always)
func nowNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

nonisolated(unsafe) var sinkStorage: Int = 0

/// Consumes a value so that the work producing it cannot be dropped.
@inline(never)
func blackHole(_ x: Int) {
    sinkStorage &+= x
}

/// Returns its argument through a call the optimizer cannot look into, so
/// that it knows nothing about the object it gets back.
@inline(never)
func opaque<T: AnyObject>(_ x: T) -> T { x }

/// Options of a run.
struct Options {
    var quick = false
    var rounds = 15
    var sampleMilliseconds = 20.0
    var only: Set<String>? = nil

    init(arguments: [String]) {
        var i = 1
        while i < arguments.count {
            switch arguments[i] {
            case "--quick":
                quick = true
                rounds = 3
                sampleMilliseconds = 4
            case "--rounds" where i + 1 < arguments.count:
                i += 1
                rounds = Int(arguments[i]) ?? rounds
            case "--sample-ms" where i + 1 < arguments.count:
                i += 1
                sampleMilliseconds = Double(arguments[i]) ?? sampleMilliseconds
            case "--only" where i + 1 < arguments.count:
                i += 1
                only = Set(arguments[i].split(separator: ",").map(String.init))
            default:
                printError("usage: dup-threading-bench [--quick] [--rounds N] [--sample-ms MS] [--only NAME,...]")
                exit(2)
            }
            i += 1
        }
    }
}

func printError(_ s: String) {
    var line = s + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

func emitLine(_ s: String) {
    print(s)
    fflush(nil)  // flushes stdout (and every other output stream)
}

/// One contender of a per-op benchmark: runs `n` operations and returns the
/// nanoseconds they took.
struct Contender {
    let name: String
    let run: (Int) -> UInt64
}

struct Runner {
    let options: Options

    /// Doubles n until a sample lasts a quarter of the target, then scales it.
    func calibrate(_ run: (Int) -> UInt64) -> Int {
        let target = options.sampleMilliseconds * 1e6
        var n = 1000
        _ = run(n)  // warm-up
        while true {
            let t = run(n)
            if Double(t) >= target / 4 || n >= 1 << 30 {
                return max(1, min(1 << 30, Int(Double(n) * target / Double(max(t, 1)))))
            }
            n *= 2
        }
    }

    /// Runs every contender once per round, reversing the order every other
    /// round, and prints ns/op per sample.
    func interleaved(_ bench: String, _ contenders: [Contender]) {
        if let only = options.only, !only.contains(bench) { return }
        printError("swift bench: \(bench)")
        let ns = contenders.map { calibrate($0.run) }
        for round in 0..<options.rounds {
            let order = round % 2 == 0 ? Array(contenders.indices) : contenders.indices.reversed()
            for i in order {
                let t = contenders[i].run(ns[i])
                let perOp = Double(t) / Double(ns[i])
                emitLine(
                    #"{"suite":"swift","bench":"\#(bench)","contender":"\#(contenders[i].name)","round":\#(round),"value":\#(perOp),"unit":"ns/op","n":\#(ns[i])}"#
                )
            }
        }
    }
}
