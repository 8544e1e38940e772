// threadingSupported / requireThreading, including the "not supported" path
// through the internal test override, plus the error descriptions.

@testable import DupThreading
import XCTest

final class ThreadingTests: XCTestCase {
    /// Serializes use of the process-wide override, in case tests of this
    /// class ever run concurrently within one process.
    private static let overrideLock = Lock()

    /// Runs `body` with threading support overridden, restoring it afterwards.
    private func withThreadingOverride(_ supported: Bool?, _ body: () throws -> Void) rethrows {
        Self.overrideLock.acquire()
        let saved = ThreadingSupport.overrideForTesting
        ThreadingSupport.overrideForTesting = supported
        defer {
            ThreadingSupport.overrideForTesting = saved
            try? Self.overrideLock.release()
        }
        try body()
    }

    func testThreadingIsSupportedHere() throws {
        try withThreadingOverride(nil) {
            XCTAssertTrue(threadingSupported())
            XCTAssertNoThrow(try requireThreading())
            XCTAssertNoThrow(try requireThreading(reason: "x"))
        }
    }

    func testRequireThreadingThrowsWithTheReasonWhenUnsupported() throws {
        try withThreadingOverride(false) {
            XCTAssertFalse(threadingSupported())
            XCTAssertThrowsError(try requireThreading(reason: "x")) { error in
                guard case .notSupported(let message)? = error as? DupThreadingError else {
                    return XCTFail("expected notSupported, got \(error)")
                }
                XCTAssertTrue(message.contains("x"), message)
                XCTAssertEqual((error as? DupThreadingError)?.description, message)
            }
            XCTAssertThrowsError(try requireThreading()) { error in
                guard case .notSupported(let message)? = error as? DupThreadingError else {
                    return XCTFail("expected notSupported, got \(error)")
                }
                XCTAssertTrue(message.contains("(no reason given)"), message)
            }
        }
        // The override is gone again.
        XCTAssertTrue(threadingSupported())
    }

    func testErrorDescriptionsAreOneLineAndDistinct() {
        let errors: [DupThreadingError] = [
            .notOwner, .notLocked, .alreadyCalled, .abandoned, .invalidTimeout("t"), .invalidArgument("a"),
            .timedOut, .interrupted, .notSupported("s"),
        ]
        let texts = errors.map(\.description)
        XCTAssertEqual(Set(texts).count, errors.count)
        for text in texts {
            XCTAssertFalse(text.isEmpty)
            XCTAssertFalse(text.contains("\n"))
        }
        XCTAssertTrue(DupThreadingError.invalidTimeout("why").description.contains("why"))
        XCTAssertTrue(DupThreadingError.invalidArgument("why").description.contains("why"))
    }
}
