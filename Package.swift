// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "DupThreading",
    products: [
        .library(name: "DupThreading", targets: ["DupThreading"]),
    ],
    targets: [
        .target(
            name: "CDupThreadingShims",
            path: "Sources/CDupThreadingShims"
        ),
        .target(
            name: "DupThreading",
            dependencies: ["CDupThreadingShims"],
            path: "Sources/DupThreading"
        ),
        .testTarget(
            name: "DupThreadingTests",
            dependencies: ["DupThreading"],
            path: "Tests/DupThreadingTests"
        ),
    ],
    swiftLanguageModes: [.v6]
)
