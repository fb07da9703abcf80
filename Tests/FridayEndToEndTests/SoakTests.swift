import FridayTesting
import Foundation
import XCTest

/// The soak's short version (the long one is `friday bench soak` with its defaults, in
/// BENCHMARKS.md): an engine in its own process with a real log, clients attached over its
/// socket, a steady load, then SIGKILL under that load and the log reopened.
final class SoakTests: XCTestCase {
    func testUnderLoadEveryClientGetsEverySeqAndKillNineLosesNothingAcknowledged() throws {
        let r = try runProcess(fridayBinary(), ["bench", "soak", "--clients", "5", "--rate", "500", "--seconds", "14", "--every", "4", "--kill-after", "12"])
        XCTAssertEqual(r.status, 0, r.err)
        let out = r.out
        print(out)
        let summary = try XCTUnwrap(out.split(separator: "\n").first { $0.contains("clients,") }.map(String.init), out)
        XCTAssertTrue(summary.contains("fell behind 0 times, resynced 0"), summary)
        // No client a second behind at p99 (a debug build, two cores shared with the engine; one
        // slow fsync may stall a single event longer, so the worst is bounded at 5 s).
        func figure(_ name: String) -> Double? {
            summary.components(separatedBy: name + " ").dropFirst().first.flatMap { Double($0.split(separator: " ").first ?? "") }
        }
        XCTAssertLessThan(try XCTUnwrap(figure("p99"), summary), 1000, summary)
        XCTAssertLessThan(try XCTUnwrap(figure("max"), summary), 5000, summary)
        let got = summary.split(separator: "got ").last?.split(separator: " ").first.flatMap { Int($0) } ?? 0
        XCTAssertGreaterThan(got, 4000, "each client got the events of 12 s at 500/s: \(summary)")
        let killed = try XCTUnwrap(out.split(separator: "\n").first { $0.hasPrefix("killed with SIGKILL") }.map(String.init), out)
        XCTAssertTrue(killed.hasSuffix("events lost: 0"), killed)
        let acked = killed.split(separator: "; ").first { $0.hasSuffix("commands acknowledged") }.flatMap { Int($0.split(separator: " ").first ?? "") } ?? 0
        XCTAssertGreaterThan(acked, 50, killed)
    }
}
