// dup-threading-bench: the Swift benchmark of DupThreading.
//
// Compares Value get / set / transform (and, for information, the locks)
// against Synchronization.Mutex.withLock doing the same work and a small
// pthread_mutex wrapper class. Run by benchmarks/run.py, which builds it with
// `swift build -c release --product dup-threading-bench` and parses its
// output: one JSON object per line on stdout (progress on stderr).
//
//   dup-threading-bench [--quick] [--rounds N] [--sample-ms MS] [--only NAME,...]

runBenchmarks(Options(arguments: CommandLine.arguments))
