// swift-tools-version:6.0
// dup_threading is licensed under the Apache License, Version 2.0: see LICENSE.
import PackageDescription

/// The directory of this manifest, for linker inputs that need absolute paths.
let packageRoot = String(#filePath.prefix(upTo: #filePath.lastIndex(of: "/")!))

let package = Package(
    name: "DupThreading",
    products: [
        // The Swift module.
        .library(name: "DupThreading", targets: ["DupThreading"]),
        // The C ABI: libdupthreading.so with include/dup_threading.h.
        .library(name: "dupthreading", type: .dynamic, targets: ["CDupThreading"]),
    ],
    targets: [
        .target(
            name: "CDupThreadingShims",
            path: "Sources/CDupThreadingShims"
        ),
        .target(
            name: "DupThreading",
            dependencies: ["CDupThreadingShims"],
            path: "Sources/DupThreading",
            // Debug builds carry the scheduling points of the deterministic
            // schedule tests (Sources/DupThreading/ScheduleHooks.swift);
            // release builds compile none of it.
            swiftSettings: [.define("DUPTHREADING_SCHEDULE", .when(configuration: .debug))]
        ),
        .systemLibrary(
            name: "CDupThreadingAPI",
            path: "Sources/CDupThreadingAPI"
        ),
        .target(
            name: "CDupThreading",
            dependencies: ["DupThreading", "CDupThreadingAPI"],
            path: "Sources/CDupThreading",
            exclude: ["exports.map"],
            linkerSettings: [
                .unsafeFlags([
                    "-static-stdlib",
                    "-Xlinker", "-soname=libdupthreading.so.1",
                    // valgrind 3.19 cannot read the DWARF 5 the toolchain emits.
                    "-Xlinker", "--strip-debug",
                    "-Xlinker", "--gc-sections",
                    "-Xlinker", "--version-script=\(packageRoot)/Sources/CDupThreading/exports.map",
                ]),
            ]
        ),
        .executableTarget(
            name: "swift-example",
            dependencies: ["DupThreading"],
            path: "examples/swift"
        ),
        .executableTarget(
            name: "dup-threading-bench",
            dependencies: ["DupThreading"],
            path: "benchmarks/swift"
        ),
        .testTarget(
            name: "DupThreadingTests",
            dependencies: ["DupThreading"],
            path: "Tests/DupThreadingTests",
            swiftSettings: [.define("DUPTHREADING_SCHEDULE", .when(configuration: .debug))]
        ),
    ],
    swiftLanguageModes: [.v6]
)
