import FridayCore
import FridayEngine
import FridayIntegrations
import Foundation
import XCTest

/// `[hooks]` commands run on deploy events; a hanging one never holds up a revert.
final class HookTests: XCTestCase {
    func testAHangingHookDoesNotDelayARevertAndEveryResultReachesTheTeamLog() async throws {
        let dir = "/tmp/fh-\(getpid())-\(UInt16.random(in: 0...UInt16.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let settings = SimulationSettings(scenario: .good, seed: 1)
        let base = SimulationSettings.fridayAfternoon
        let clock = ManualClock(base)
        let engine = Engine(deployID: "h", clock: clock, router: SimulatedRouter(), metrics: SimulatedTraffic(settings: settings),
                            sources: [SimulatedDeploy(settings: settings)], judge: CanaryJudge())
        var hooks = HookSettings()
        hooks.timeout = 1
        hooks.dir = dir
        hooks.commands[.step] = ["sh", "-c", "echo hanging at $FRIDAY_WEIGHT%; sleep 60"]
        hooks.commands[.reverted] = ["sh", "-c", "echo reverted by $FRIDAY_BY: $FRIDAY_REASON"]
        hooks.commands[.started] = ["/nonexistent/hook"]
        let runner = HookRunner(settings: hooks, deploy: "h", service: "checkout", from: settings.from, to: settings.to, outputDir: dir,
                                report: { _ = await engine.ingest($0) })
        await engine.addSink { runner.consider($0) }
        var t = 0.0
        while await engine.state.stepIndex == nil, t < 300 {
            clock.set(base + t)
            await engine.advance(to: base + t)
            t += 1
        }
        // The step hook is hanging now; a revert goes through at once.
        try await Task.sleep(for: .milliseconds(200))
        let started = ContinuousClock.now
        let decision = await engine.send(Command(.revert, by: "ana", text: "p99 doubled"))
        let took = ContinuousClock.now - started
        XCTAssertNil(decision.refusal)
        let outcome = await engine.state.outcome
        XCTAssertEqual(outcome, .reverted)
        XCTAssertLessThan(took, .milliseconds(500), "the revert waited for a hook")
        let deadline = Date().addingTimeInterval(10)
        func logText() async -> [String] { await engine.state.log.filter { $0.who == "hook" }.map(\.text) }
        while await logText().count < 3, Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        let lines = await logText()
        XCTAssertTrue(lines.contains { $0.hasPrefix("hook started: could not start /nonexistent/hook") }, "\(lines)")
        XCTAssertTrue(lines.contains { $0.hasPrefix("hook step: timed out, stopped after 1s") && $0.hasSuffix("hanging at 1%") }, "\(lines)")
        XCTAssertTrue(lines.contains { $0.hasPrefix("hook reverted: ok after") && $0.hasSuffix("reverted by ana: p99 doubled") }, "\(lines)")
        await runner.drain(seconds: 1)
    }
}
