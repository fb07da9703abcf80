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
