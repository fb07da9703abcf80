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
    func testThreeVersionsAreWrittenAsLanesReadBackAndBucketed() async throws {
        let path = NSTemporaryDirectory() + "flags3-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = FlagFileRouter(path: path, flag: "checkout", from: "v1", to: "v2-a", more: ["v2-b"])
        let w = [VersionWeight(version: "v1", percent: 34), VersionWeight(version: "v2-a", percent: 33), VersionWeight(version: "v2-b", percent: 33)]
        let back = try await r.setWeights(w)
        // Read back in the engine's order (baseline first), summed per version.
        XCTAssertEqual(back, w)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        // Each candidate a lane of its own: a [0,50), b [50,100); the baseline the rest of each.
        XCTAssertEqual(text, #"{"flags":{"checkout":{"split":[{"version":"v2-a","percent":33},{"version":"v1","percent":17},{"version":"v2-b","percent":33},{"version":"v1","percent":17}]}}}"# + "\n")
        // A hand edit that breaks the sum, or names another version, is an error, never a split.
        try #"{"flags":{"checkout":{"split":[{"version":"v2-a","percent":90},{"version":"v2-b","percent":33},{"version":"v1","percent":34}]}}}"#.write(toFile: path, atomically: true, encoding: .utf8)
        do { _ = try r.currentWeights(); XCTFail("no error") } catch { XCTAssertTrue("\(error)".contains("the split adds up to 157, not 100"), "\(error)") }
        try #"{"flags":{"checkout":{"split":[{"version":"v9\u001b[2J","percent":10},{"version":"v2-b","percent":33},{"version":"v1","percent":57}]}}}"#.write(toFile: path, atomically: true, encoding: .utf8)
        do { _ = try r.currentWeights(); XCTFail("no error") } catch { XCTAssertTrue("\(error)".contains("\"v9^[[2J\" is not a version of this deploy"), "\(error)") }
    }

    /// Who is where, for 3,000 users, under a split.
    func users(_ split: [VersionWeight]) -> [String] {
        let segments = FlagBucket.layout(split, candidates: ["v2-a", "v2-b"], baseline: "v1")
        XCTAssertEqual(segments.reduce(0) { $0 + $1.percent }, 100)
        return (0..<3000).map { FlagBucket.version(flag: "checkout", user: "user-\($0)", split: segments)! }
    }

    func split(_ base: Int, _ a: Int, _ b: Int) -> [VersionWeight] {
        [VersionWeight(version: "v1", percent: base), VersionWeight(version: "v2-a", percent: a), VersionWeight(version: "v2-b", percent: b)]
    }

    func testAUserStaysWithACandidateWhoseShareDoesNotFallThroughStepsAndTakeOuts() {
        // The shipped three-version plan, then b taken out at 70/15/15 (82/18/0), then the last step.
        let steps = [split(90, 5, 5), split(70, 15, 15), split(82, 18, 0), split(51, 49, 0), split(0, 100, 0)]
        var before = users(steps[0])
        for next in steps.dropFirst() {
            let after = users(next)
            for (u, (x, y)) in zip(before, after).enumerated() where x != y {
                // Only a candidate whose share fell (b, taken out) loses users; a's never leave it.
                XCTAssertNotEqual(x, "v2-a", "user-\(u) left v2-a for \(y) going to \(weightsText(next))")
                if x == "v2-b" { XCTAssertEqual(next.first { $0.version == "v2-b" }?.percent, 0) }
            }
            before = after
        }
        // Shares are what the split says, to a few percent over 3,000 users.
        let mid = users(split(34, 33, 33))
        for (v, p) in [("v1", 0.34), ("v2-a", 0.33), ("v2-b", 0.33)] {
            XCTAssertEqual(Double(mid.filter { $0 == v }.count) / 3000, p, accuracy: 0.04, v)
        }
        // Every split of 100 over three versions lays out into exactly those shares.
        for a in stride(from: 0, through: 100, by: 7) { for b in stride(from: 0, through: 100 - a, by: 9) {
            let seg = FlagBucket.layout(split(100 - a - b, a, b), candidates: ["v2-a", "v2-b"], baseline: "v1")
            var sums: [String: Int] = [:]
            for s in seg { sums[s.version, default: 0] += s.percent }
            XCTAssertEqual(sums["v2-a"] ?? 0, a); XCTAssertEqual(sums["v2-b"] ?? 0, b); XCTAssertEqual(sums["v1"] ?? 0, 100 - a - b)
        } }
    }

    func testGrowingSharesNeverSendACandidatesUserBackToTheBaseline() {
        // Uneven growth, a candidate past its lane (60 > 50): users may move between
        // candidates only through the overflow, never from a candidate to the baseline.
        let steps = [split(80, 10, 10), split(60, 25, 15), split(30, 40, 30), split(10, 60, 30), split(0, 60, 40)]
        var before = users(steps[0])
        for next in steps.dropFirst() {
            let after = users(next)
            for (u, (x, y)) in zip(before, after).enumerated() where x != "v1" { XCTAssertNotEqual(y, "v1", "user-\(u) went from \(x) back to the baseline at \(weightsText(next))") }
            before = after
        }
    }
}
