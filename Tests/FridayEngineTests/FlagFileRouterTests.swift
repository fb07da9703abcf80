import FridayCore
import FridayEngine
import FridayIntegrations
import XCTest

final class FlagFileRouterTests: XCTestCase {
    func testTheFlagPercentageIsWrittenAtomicallyReadBackAndOtherFlagsKept() async throws {
        let path = NSTemporaryDirectory() + "flags-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try #"{"flags":{"other":{"percent":50}}}"#.write(toFile: path, atomically: true, encoding: .utf8)
        let r = FlagFileRouter(path: path, flag: "checkout-v2", from: "v1", to: "v2")
        let back = try await r.setWeights([VersionWeight(version: "v1", percent: 75), VersionWeight(version: "v2", percent: 25)])
        XCTAssertEqual(back, [VersionWeight(version: "v1", percent: 75), VersionWeight(version: "v2", percent: 25)])
        let text = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertEqual(text, #"{"flags":{"checkout-v2":{"percent":25,"version":"v2"},"other":{"percent":50}}}"# + "\n")

        // Through the engine: the traffic pane's split is the flag's percentage.
        let settings = SimulationSettings(scenario: .good, seed: 1)
        let clock = ManualClock(SimulationSettings.fridayAfternoon)
        let flagRouter = FlagFileRouter(path: path, flag: "checkout-v2", from: "v2.3.0", to: "v2.4.0")
        let engine = Engine(deployID: "f", clock: clock, router: flagRouter, metrics: SimulatedTraffic(settings: settings), sources: [SimulatedDeploy(settings: settings)])
        var t = 0.0
        while await engine.state.stepIndex != 1, t < 500 {
            clock.set(SimulationSettings.fridayAfternoon + t)
            await engine.advance(to: SimulationSettings.fridayAfternoon + t)
            t += 1
        }
        let s = await engine.state
        XCTAssertEqual(s.canaryPercent, 5)
        XCTAssertTrue(try String(contentsOfFile: path, encoding: .utf8).contains(#""checkout-v2":{"percent":5"#))

        try "{not json".write(toFile: path, atomically: true, encoding: .utf8)
        do { _ = try await r.setWeights([VersionWeight(version: "v2", percent: 50)]); XCTFail("no error") } catch {
            XCTAssertTrue("\(error)".hasPrefix("\(path): not JSON"), "\(error)")
        }
    }
}

final class FlagFileSplitTests: XCTestCase {
    func testThreeVersionsAreWrittenAsASplitReadBackAndBucketed() async throws {
        let path = NSTemporaryDirectory() + "flags3-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = FlagFileRouter(path: path, flag: "checkout", from: "v1", to: "v2-a", more: ["v2-b"])
        let w = [VersionWeight(version: "v1", percent: 34), VersionWeight(version: "v2-a", percent: 33), VersionWeight(version: "v2-b", percent: 33)]
        let back = try await r.setWeights(w)
        // Read back in the engine's order (baseline first), whatever the file's order.
        XCTAssertEqual(back, w)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertEqual(text, #"{"flags":{"checkout":{"split":[{"version":"v2-a","percent":33},{"version":"v2-b","percent":33},{"version":"v1","percent":34}]}}}"# + "\n")
        // A hand edit that breaks the sum is an error, never a split.
        try #"{"flags":{"checkout":{"split":[{"version":"v2-a","percent":90},{"version":"v2-b","percent":33},{"version":"v1","percent":34}]}}}"#.write(toFile: path, atomically: true, encoding: .utf8)
        do { _ = try r.currentWeights(); XCTFail("no error") } catch { XCTAssertTrue("\(error)".contains("the split adds up to 157, not 100"), "\(error)") }
        // Buckets: about a third each over 3,000 users; growing the candidates' share never
        // sends a candidate's user back to the baseline.
        let early = [VersionWeight(version: "v2-a", percent: 10), VersionWeight(version: "v2-b", percent: 10), VersionWeight(version: "v1", percent: 80)]
        let later = [VersionWeight(version: "v2-a", percent: 33), VersionWeight(version: "v2-b", percent: 33), VersionWeight(version: "v1", percent: 34)]
        var counts: [String: Int] = [:]
        for u in 0..<3000 {
            let before = FlagBucket.version(flag: "checkout", user: "user-\(u)", split: early)!
            let after = FlagBucket.version(flag: "checkout", user: "user-\(u)", split: later)!
            counts[after, default: 0] += 1
            if before != "v1" { XCTAssertNotEqual(after, "v1", "user-\(u) went back to the baseline") }
        }
        for v in ["v1", "v2-a", "v2-b"] { XCTAssertEqual(Double(counts[v] ?? 0) / 3000, 0.333, accuracy: 0.04, v) }
    }
}
