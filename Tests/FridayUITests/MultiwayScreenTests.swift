import FridayCore
import FridayEngine
import FridayIntegrations
import FridayTesting
@testable import FridayUI
import XCTest

/// The dashboard of a deploy with several candidates, from the demo's own simulated runs:
/// every size draws every version, a taken-out candidate is marked, and `:takeout` takes
/// one out with its own confirm and the same refusals as `friday revert --candidate`.
final class MultiwayScreenTests: XCTestCase {
    let base = SimulationSettings.fridayAfternoon

    /// The demo's engine for `scenario`, run to `seconds` in simulated time.
    func state(_ scenario: Scenario, at seconds: Int) async -> DeployState {
        let sim = SimulationSettings(scenario: scenario, seed: 1)
        let clock = ManualClock(base)
        let e = Engine(deployID: "demo", clock: clock, router: SimulatedRouter(), metrics: SimulatedTraffic(settings: sim),
                       sources: [SimulatedDeploy(settings: sim)], judge: CanaryJudge())
        for t in 0...seconds {
            clock.set(base + Double(t))
            await e.advance(to: base + Double(t))
        }
        return await e.state
    }

    func type(_ text: String, into m: inout UIModel) { for c in text { _ = m.update(.key(.char(c))) } }

    func testEverySizeShowsEveryVersionAndTheOneTakenOut() async {
        let s = await state(.threeWay, at: 80)
        XCTAssertEqual(s.candidatesOut, ["v2.4.0-b"], "the demo's second candidate fails at its second step and is taken out alone")
        XCTAssertEqual(Set(s.observed), Set([VersionWeight(version: "v2.3.0", percent: 82), VersionWeight(version: "v2.4.0", percent: 18), VersionWeight(version: "v2.4.0-b", percent: 0)]))
        for (w, h) in [(120, 34), (100, 30), (80, 24), (60, 20), (50, 14), (30, 8), (12, 4), (1, 1)] {
            let m = UIModel(deploy: s, now: base + 80, user: "you", judge: CanaryJudge(), width: w, height: h)
            let text = Screen.render(m).lines.joined(separator: "\n")
            if w >= 60 {
                XCTAssertTrue(text.contains("v2.3.0 → v2.4.0, v2.4.0-b"), "\(w)x\(h): the header names every candidate\n\(text)")
                for v in ["v2.3.0", "v2.4.0 ", "v2.4.0-b"] { XCTAssertTrue(text.contains(v), "\(w)x\(h): \(v)\n\(text)") }
                XCTAssertTrue(text.contains("out of rotation: v2.4.0-b; v2.4.0 goes on"), "\(w)x\(h)\n\(text)")
                XCTAssertTrue(text.contains("v2.4.0-b OUT"), "\(w)x\(h)\n\(text)")
            } else if w >= 30, h >= 8 {
                XCTAssertTrue(text.contains("v2.4.0-b 0%"), "\(w)x\(h): the summary gives every version's share\n\(text)")
                XCTAssertTrue(text.contains("out"), "\(w)x\(h)\n\(text)")
            }
        }
    }

    func testTakeoutAsksWithTheSplitAfterItAndSendsTheCandidate() async {
        let s = await state(.threeWay, at: 45)
        XCTAssertNil(s.candidatesOut)
        var m = UIModel(deploy: s, now: base + 45, user: "ana", judge: CanaryJudge(), width: 120, height: 34)
        // Tab completes the candidates in rotation.
        _ = m.update(.key(.char(":")))
        type("takeout v2.4.0-", into: &m)
        _ = m.update(.key(.tab))
        XCTAssertEqual(m.mode, .palette("takeout v2.4.0-b "))
        type("p99 doubled", into: &m)
        XCTAssertEqual(m.update(.key(.enter)), [])
        XCTAssertEqual(m.mode, .revertConfirm(reason: "p99 doubled", typed: "", candidate: "v2.4.0-b"))
        let screen = Screen.render(m).lines.joined(separator: "\n")
        XCTAssertTrue(screen.contains("Take v2.4.0-b out of rotation?"), screen)
        // The split after it is the one the engine will set: step 1's 90/5/5 with b's 5% shared 90:5.
        XCTAssertEqual(s.stepIndex, 0)
        let after = weightsText(RolloutLogic.redistribute(s.plan.steps[0].weights!, out: ["v2.4.0-b"]).filter { $0.percent > 0 })
        XCTAssertEqual(after, "v2.3.0 95%, v2.4.0 5%")
        XCTAssertEqual(RolloutLogic.takeOutConsequence("v2.4.0-b", in: s), "v2.4.0-b 5% → 0% at once; then \(after); only a retry brings it back")
        XCTAssertTrue(screen.contains("v2.4.0-b 5% → 0% at once; then v2.3.0 95%, v2.4.0 5%; only a"), screen)
        // Enter alone, or the other candidate's name, does nothing; revert or the candidate's name sends it.
        XCTAssertEqual(m.update(.key(.enter)), [])
        type("v2.4.0", into: &m)
        XCTAssertEqual(m.update(.key(.enter)), [])
        XCTAssertTrue(m.message?.text.hasPrefix("type revert or v2.4.0-b") ?? false, "\(String(describing: m.message))")
        for _ in 0..<6 { _ = m.update(.key(.backspace)) }
        type("v2.4.0-b", into: &m)
        XCTAssertEqual(m.update(.key(.enter)), [.send(Command(.revert, by: "ana", text: "p99 doubled", candidate: "v2.4.0-b"))])
        // The other candidate goes out while the dialog is open: confirming would now revert the
        // whole deploy, which is not what the dialog said; it is not sent. (Caps lock is fine.)
        _ = m.update(.key(.char(":")))
        type("takeout v2.4.0-b slow", into: &m)
        _ = m.update(.key(.enter))
        m.deploy.candidatesOut = ["v2.4.0"]
        type("REVERT", into: &m)
        XCTAssertEqual(m.update(.key(.enter)), [])
        XCTAssertEqual(m.message?.text, "not sent: v2.4.0-b is the last candidate in rotation now; taking it out reverts the deploy: :revert <reason>")
        XCTAssertEqual(m.mode, .normal)
        // And with one candidate left, takeout does not open: that is :revert.
        _ = m.update(.key(.char(":")))
        type("takeout v2.4.0-b slow", into: &m)
        XCTAssertEqual(m.update(.key(.enter)), [])
        XCTAssertEqual(m.message?.text, "v2.4.0-b is the last candidate in rotation: taking it out reverts the deploy: :revert <reason>")
        XCTAssertEqual(m.mode, .normal)
        m.deploy.candidatesOut = nil
        // Refusals: no reason, a name that is not a candidate, the baseline.
        for (line, why) in [("takeout v2.4.0-b", "takeout <candidate> <reason>: candidates in rotation are v2.4.0, v2.4.0-b"),
                            ("takeout v9\u{1b}[2J slow", "can't take v9^[[2J out: v9^[[2J is not a candidate of this deploy (candidates: v2.4.0, v2.4.0-b)"),
                            ("takeout v2.3.0 slow", "can't take v2.3.0 out: v2.3.0 is not a candidate of this deploy (candidates: v2.4.0, v2.4.0-b)")] {
            _ = m.update(.key(.char(":")))
            type(line, into: &m)
            XCTAssertEqual(m.update(.key(.enter)), [], line)
            XCTAssertEqual(m.message?.text, why, line)
            XCTAssertEqual(m.mode, .normal)
        }
        // A viewer is refused as for r.
        var viewer = UIModel(deploy: s, now: base + 45, user: "bo", judge: CanaryJudge(), width: 120, height: 34)
        viewer.role = .viewer
        _ = viewer.update(.key(.char(":")))
        type("takeout v2.4.0-b slow", into: &viewer)
        XCTAssertEqual(viewer.update(.key(.enter)), [])
        XCTAssertEqual(viewer.message?.text, UIModel.viewerRefusal)
    }

    func testTakeoutOnATwoVersionDeploySaysToRevert() {
        let f = EventFixture.rolling(step: 1)
        var m = UIModel(deploy: f.state, now: f.t, user: "you")
        _ = m.update(.key(.char(":")))
        type("takeout v2 slow", into: &m)
        XCTAssertEqual(m.update(.key(.enter)), [])
        XCTAssertEqual(m.message?.text, "takeout applies to a deploy of several candidates; this one has \(f.state.to.name) alone: :revert <reason>")
    }

    func testTheBenchmarkDemoNamesTheFasterCandidateAndTheTeamPromotesIt() async {
        let s = await state(.benchmark, at: 330)
        XCTAssertEqual(s.outcome, .promoted)
        XCTAssertEqual(s.candidatesOut, ["v2.4.0"])
        XCTAssertEqual(s.observed.first { $0.percent > 0 }, VersionWeight(version: "v2.4.0-b", percent: 100))
        let report = s.log.first { $0.text.hasPrefix("benchmark over ") }
        XCTAssertNotNil(report, s.log.map(\.text).joined(separator: "\n"))
        XCTAssertTrue(report?.text.contains("v2.4.0-b is faster at p50: ") ?? false, report?.text ?? "")
        XCTAssertTrue(report?.text.contains("v2.4.0-b is faster at p99: ") ?? false, report?.text ?? "")
        XCTAssertFalse(s.log.contains { $0.text.hasPrefix("step 1 passed: benchmark") }, "a benchmark's report is not a step passing")
        XCTAssertTrue(s.log.contains { $0.who == "maya" && $0.text.hasPrefix("maya is taking v2.4.0 out of rotation: benchmark: v2.4.0-b is faster") },
                      s.log.suffix(8).map(\.text).joined(separator: "\n"))
    }
}
