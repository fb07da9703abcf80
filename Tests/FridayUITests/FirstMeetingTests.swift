import FridayCore
import FridayEngine
import FridayIntegrations
import FridayTesting
@testable import FridayUI
import XCTest

/// What a team meets first at 80x24 and 60x20 (issue 24): the team log in sight, the hold
/// that waits for a person named with its key, cut text marked, the focused pane said in
/// words, and a footer that offers what this person can do now.
extension ScreenTests {
    var chat: String { "promoting in a minute unless someone objects" }

    func withChat(_ s: DeployState, at seconds: Double) -> DeployState {
        var s = s
        Reducer.reduce(&s, DeployEvent(seq: s.lastSeq + 1, ts: base + seconds, deploy: s.deployID, payload: .chatMessage(from: "maya", text: chat)))
        return s
    }

    /// The rows inside the team pane's box.
    func teamRows(_ lines: [String]) -> [String] {
        guard let top = lines.firstIndex(where: { $0.contains("4 Team") }) else { return [] }
        return Array(lines[(top + 1)...].prefix { !$0.hasPrefix("└") })
    }

    func testTheTeamLogKeepsThreeLinesAt80x24AndTwoAt60x20WhileAFinishedPipelineIsOne() async {
        for (scenario, at) in [(Scenario.good, 20.0), (.good, 100), (.good, 145), (.badCanary, 160), (.good, 320)] {
            let s = withChat(await demoState(scenario, at: at), at: at)
            for (w, h, least) in [(80, 24, 3), (60, 20, 2)] {
                let lines = Screen.render(model(s, at: at, w, h)).lines
                let rows = teamRows(lines)
                XCTAssertGreaterThanOrEqual(rows.count, least, "\(scenario) at \(at)s, \(w)x\(h):\n\(lines.joined(separator: "\n"))")
                XCTAssertTrue(rows.joined(separator: " ").contains("maya: promoting in a minute"), "\(w)x\(h) at \(at)s:\n\(lines.joined(separator: "\n"))")
                if at > 60 {
                    // A finished pipeline is one line: on the box's edge where rows are short, in a box where there is room.
                    let oneLine = lines[1].hasPrefix("─ 1 Pipeline ─ ✓ all 4 stages passed in 38s")
                        || (lines[2].contains("✓ all 4 stages passed in 38s") && lines[3].hasPrefix("└"))
                    XCTAssertTrue(oneLine, "a finished pipeline is one line at \(w)x\(h), \(at)s:\n\(lines.joined(separator: "\n"))")
                }
            }
        }
    }

    func testAStepThatWaitsForAPersonSaysHELDWithWhoHoldsItAndTheKey() async {
        let promotedHold = await demoState(.good, at: 145)
        var m = model(promotedHold, at: 145, 120, 40)
        XCTAssertTrue(Screen.render(m).lines[0].contains("HELD until promoted (p promotes) step 3/5 25%"), Screen.render(m).lines[0])
        m.width = 80; m.height = 24
        XCTAssertTrue(Screen.render(m).lines[0].contains("HELD until promoted (p promotes)"), Screen.render(m).lines[0])
        m.width = 60; m.height = 20
        let narrow = Screen.render(m).lines[0]
        XCTAssertTrue(narrow.contains("HELD") && narrow.contains("(p)") && narrow.contains("2m25s"), narrow)
        m.role = .viewer; m.width = 120; m.height = 40
        XCTAssertTrue(Screen.render(m).lines[0].contains("HELD until promoted (an operator's promote)"), Screen.render(m).lines[0])
        let judgeHold = await demoState(.badCanary, at: 160)
        XCTAssertTrue(Screen.render(model(judgeHold, at: 160, 120, 40)).lines[0].contains("HELD by the judge (p promotes)"))
        XCTAssertEqual(judgeHold.hold, Hold(word: "HELD", by: "by the judge", ends: .promote))
        XCTAssertEqual(promotedHold.hold, Hold(word: "HELD", by: "until promoted", ends: .promote))
        var paused = promotedHold
        Reducer.reduce(&paused, DeployEvent(seq: paused.lastSeq + 1, ts: base + 146, deploy: paused.deployID, payload: .deployPaused(by: "maya", reason: "looking")))
        XCTAssertEqual(paused.hold, Hold(word: "PAUSED", by: "by maya", ends: .resume))
        // The engine's hold on the router (a drift, a move not confirmed) ends with resume: a
        // promote would override what was done to the router, so p asks for the word there.
        var drift = await demoState(.good, at: 100)
        Reducer.reduce(&drift, DeployEvent(seq: drift.lastSeq + 1, ts: base + 101, deploy: drift.deployID,
                                           payload: .analysisVerdict(step: drift.stepIndex!, verdict: .pass, summary: "passed", figures: [])))
        Reducer.reduce(&drift, DeployEvent(seq: drift.lastSeq + 1, ts: base + 101, deploy: drift.deployID,
                                           payload: .deployPaused(by: "engine", reason: "router reports 100/0: resume puts them back")))
        XCTAssertEqual(drift.hold, Hold(word: "HELD", by: "by the engine", ends: .resume))
        var onDrift = model(drift, at: 101, 120, 40)
        XCTAssertTrue(Screen.render(onDrift).lines[0].contains("HELD by the engine (space resumes)"), Screen.render(onDrift).lines[0])
        XCTAssertEqual(onDrift.update(.key(.char("p"))), [], "a promote past the engine's hold asks first")
        XCTAssertEqual(onDrift.mode, .confirm(.promote, typed: ""))
        XCTAssertTrue(Screen.render(onDrift).lines.joined().contains("Promote past the engine's hold on the router?"))
        XCTAssertTrue(Screen.render(model(paused, at: 146, 120, 40)).lines[0].contains("PAUSED by maya (space resumes)"))
        let rolling = await demoState(.good, at: 100)
        XCTAssertNil(rolling.hold)
        XCTAssertTrue(Screen.render(model(rolling, at: 100, 120, 40)).lines[0].contains("ROLLING step 2/5"))
    }

    func testCutTextEndsInAnEllipsisAndTheVerdictWrapsIntoTheRowsThereAre() async {
        let s = await demoState(.good, at: 145)
        let m = model(s, at: 145, 80, 24)
        let live = m.judge.evaluate(s, now: m.now)!
        let text = Screen.render(m).lines.map { $0.dropFirst().dropLast().trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
        XCTAssertTrue(text.contains(live.summary.suffix(40)), "at 80x24 the whole verdict is shown:\n\(Screen.render(m).lines.joined(separator: "\n"))")
        // At 60x20 it cannot be: its last row says so.
        let small = Screen.render(model(s, at: 145, 60, 20)).lines
        let judge = small.firstIndex { $0.contains("judge PASS") }!
        let lastVerdictRow = small[judge...].prefix { !$0.hasPrefix("└") }.last!
        XCTAssertTrue(lastVerdictRow.dropLast().trimmingCharacters(in: .whitespaces).hasSuffix("…"), small.joined(separator: "\n"))
        // Several candidates: each verdict wraps where there are rows, and a cut one is marked.
        let three = await demoState(.threeWay, at: 60, judge: CanaryJudge())
        for (w, h) in [(200, 60), (120, 40), (80, 24)] {
            let lines = Screen.render(UIModel(deploy: three, now: base + 60, user: "you", judge: CanaryJudge(), width: w, height: h)).lines
            let verdicts = CanaryJudge().evaluateCandidates(three, now: base + 60)
            let shown = lines.joined(separator: " ")
            for (v, r) in verdicts where w >= 120 {
                XCTAssertTrue(shown.contains(String(r.summary.prefix(30))), "\(v) at \(w)x\(h)\n\(lines.joined(separator: "\n"))")
            }
            XCTAssertFalse(lines.contains { $0.contains(" (the│") }, "\(w)x\(h)\n\(lines.joined(separator: "\n"))")
        }
    }

    func testTheFocusedPaneIsMarkedInWordsAndSlashSaysWhichPaneItSearches() async {
        let s = await demoState(.good, at: 20)
        var m = model(s, at: 20, 120, 40)
        var lines = Screen.render(m).lines
        XCTAssertTrue(lines.contains { $0.contains("┌ ▶ 4 Team") }, "the team log has the focus at first")
        XCTAssertFalse(lines.contains { $0.contains("▶ 1 Pipeline") })
        _ = m.update(.key(.char("/")))
        XCTAssertTrue(Screen.render(m).lines.last!.hasPrefix(" / team log: "))
        _ = m.update(.key(.escape))
        _ = m.update(.key(.char("1")))
        lines = Screen.render(m).lines
        XCTAssertTrue(lines.contains { $0.contains("┌ ▶ 1 Pipeline") } && lines.contains { $0.contains("┌ 4 Team") })
        _ = m.update(.key(.char("/")))
        XCTAssertTrue(Screen.render(m).lines.last!.hasPrefix(" / build container output: "), Screen.render(m).lines.last!)
    }

    func testTheFooterOffersWhatAppliesToThisPersonInThisModeFirst() async {
        let s = await demoState(.good, at: 100)
        var viewer = model(s, at: 100, 80, 24)
        viewer.role = .viewer
        var footer = Screen.render(viewer).lines.last!
        for key in ["m say", "/ search", "? help", "q quit"] { XCTAssertTrue(footer.contains(key), "a viewer at 80x24 sees \(key): \(footer)") }
        XCTAssertTrue(footer.firstRange(of: "m say")!.lowerBound < (footer.firstRange(of: "p promote")?.lowerBound ?? footer.endIndex), footer)
        var op = model(s, at: 100, 80, 24)
        _ = op.update(.key(.char("r")))
        footer = Screen.render(op).lines.last!
        XCTAssertTrue(footer.contains("Esc cancel") && footer.contains("Enter next"), footer)
        XCTAssertFalse(footer.contains("p promote") || footer.contains("r revert"), "keys that would type text are not offered: \(footer)")
        _ = op.update(.key(.escape))
        footer = Screen.render(op).lines.last!
        XCTAssertTrue(footer.contains("p promote") && footer.contains("q quit"), footer)
    }
}

extension ScreenTests {
    /// Issue 24, item 10: a simulation says so at every width and its clock is not the wall's;
    /// a mean latency is called avg below the table as in it.
    func testASimulationSaysSoAtEveryWidthAndAMeanIsCalledAvg() async {
        var s = await demoState(.good, at: 100)
        for (w, h) in [(60, 20), (80, 24), (120, 40), (200, 60)] {
            let header = Screen.render(model(s, at: 100, w, h)).lines[0]
            XCTAssertTrue(header.contains("SIM"), "\(w)x\(h): \(header)")
        }
        XCTAssertTrue(Screen.render(model(s, at: 100, 200, 60)).lines[0].hasSuffix("sim 16:01:40 UTC"), "a simulated clock is not taken for wall time")
        s.latencyIsMean = true
        let text = Screen.render(model(s, at: 100, 120, 40)).lines.joined(separator: "\n")
        XCTAssertTrue(text.contains("avg ") && !text.contains("p99 1"), text)
    }
}
