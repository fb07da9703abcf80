import FridayCore
import FridayEngine
import FridayIntegrations
import FridayTesting
@testable import FridayUI
import XCTest

final class ScreenTests: XCTestCase {
    let base = SimulationSettings.fridayAfternoon

    /// The demo's state at `seconds`, as `friday demo --dump` builds it.
    func demoState(_ scenario: Scenario, at seconds: Double, judge: CanaryJudge = CanaryJudge(onFail: .pause)) async -> DeployState {
        let settings = SimulationSettings(scenario: scenario, seed: 1)
        let clock = ManualClock(base)
        let engine = Engine(deployID: "t", clock: clock, router: SimulatedRouter(), metrics: SimulatedTraffic(settings: settings),
                            sources: [SimulatedDeploy(settings: settings)], judge: judge)
        var t = 0.0
        while t <= seconds { clock.set(base + t); await engine.advance(to: base + t); t += 1 }
        return await engine.state
    }

    func model(_ s: DeployState, at seconds: Double, _ w: Int, _ h: Int, glyphs: Glyphs = .unicode, judge: CanaryJudge = CanaryJudge(onFail: .pause)) -> UIModel {
        UIModel(deploy: s, now: base + seconds, user: "you", glyphs: glyphs, judge: judge, width: w, height: h, sourceLabel: "demo")
    }

    func assertScreen(_ m: UIModel, _ name: String, file: StaticString = #filePath, line: UInt = #line) {
        let text = Screen.render(m).lines.joined(separator: "\n")
        if let problem = Snapshot.check(text, named: name) { XCTFail(problem, file: file, line: line) }
    }

    func testWholeScreensAtSeveralSizesAndMoments() async {
        let rolling = await demoState(.good, at: 130)
        assertScreen(model(rolling, at: 130, 120, 40), "good-130s-120x40")
        assertScreen(model(rolling, at: 130, 100, 30), "good-130s-100x30")
        assertScreen(model(rolling, at: 130, 80, 24), "good-130s-80x24")
        assertScreen(model(rolling, at: 130, 40, 10), "good-130s-40x10-compact")
        let pipeline = await demoState(.good, at: 20)
        assertScreen(model(pipeline, at: 20, 120, 40), "good-20s-120x40-pipeline")
        let held = await demoState(.badCanary, at: 160)
        assertScreen(model(held, at: 160, 120, 40), "bad-160s-120x40-held")
        assertScreen(model(held, at: 160, 120, 40, glyphs: .ascii), "bad-160s-120x40-ascii")
        let reverted = await demoState(.badCanary, at: 160, judge: CanaryJudge())
        assertScreen(model(reverted, at: 160, 120, 40), "bad-160s-120x40-reverted")
    }

    /// Every size keeps what a person on call must see at each moment: the state, the
    /// running stage, both versions' split and errors, what happens next, the judge.
    func testEverySizeKeepsTheMustHavesOfEveryPhase() async {
        let pipeline = await demoState(.good, at: 20)
        let judging = await demoState(.badCanary, at: 100)
        let held = await demoState(.badCanary, at: 160)
        let promotedHold = await demoState(.good, at: 160)
        let reverted = await demoState(.badCanary, at: 170, judge: CanaryJudge())
        let failed = failedPipeline()
        let promoted = await demoState(.good, at: 320)
        let cases: [(String, DeployState, Double, [String])] = [
            ("pipeline", pipeline, 20, ["PIPELINE", "build container", "v2.3.0", "100%"]),
            ("judging", judging, 100, ["ROLLING", "v2.3.0", "v2.4.0", "0.95%", "next 25% in", "judge"]),
            ("held by a person's step", promotedHold, 160, ["HELD", "v2.4.0", "p for 50%", "judge"]),
            ("held by the judge", held, 160, ["HELD", "v2.4.0", "p promote", "judge"]),
            ("reverted", reverted, 170, ["REVERTED", "5%✗", "R to", "v2.4.0"]),
            ("failed pipeline", failed.0, failed.1, ["FAILED", "✗ build container", "go.sum mismatch", "deploy again", "v2.3.0", "100%"]),
            ("promoted", promoted, 320, ["PROMOTED", "v2.4.0 takes all traffic", "4m01s", "100%"]),
        ]
        for (w, h) in [(200, 60), (120, 40), (100, 30), (80, 24), (60, 20)] {
            for (name, state, at, musts) in cases {
                let text = Screen.render(model(state, at: at, w, h, judge: name == "reverted" ? CanaryJudge() : CanaryJudge(onFail: .pause))).lines.joined(separator: "\n")
                for must in musts {
                    XCTAssertTrue(text.contains(must), "\(name) at \(w)x\(h) lost \"\(must)\":\n\(text)")
                }
            }
        }
        // The header's age is never cut (before, 60 columns showed "2m40" for "2m40s").
        for (w, h) in [(200, 60), (120, 40), (100, 30), (80, 24), (60, 20)] {
            let header = Screen.render(model(promotedHold, at: 160, w, h)).lines[0]
            XCTAssertTrue(header.contains("2m40s"), "\(w)x\(h): \(header)")
        }
        // Below 60x20 the summary keeps the state, both versions, and what to do next or why.
        let compact: [(String, DeployState, Double, [String])] = [
            ("pipeline", pipeline, 20, ["PIPELINE", "build container", "v2.3.0 100%"]),
            ("judging", judging, 100, ["ROLLING 2/5", "v2.4.0 5%", "next 25% in"]),
            ("held by a person's step", promotedHold, 160, ["HELD 3/5", "p for 50%"]),
            ("held by the judge", held, 160, ["HELD 2/5", "p promote", "judge:"]),
            ("reverted", reverted, 170, ["REVERTED", "v2.4.0 0%", "R to retry"]),
            ("failed pipeline", failed.0, failed.1, ["FAILED", "✗ build container: ERROR", "deploy again"]),
            ("promoted", promoted, 320, ["PROMOTED", "v2.4.0 100%", "takes all traffic"]),
        ]
        for (name, state, at, musts) in compact {
            // Lines wrap in the summary: read as one text.
            let text = Screen.render(model(state, at: at, 40, 12, judge: name == "reverted" ? CanaryJudge() : CanaryJudge(onFail: .pause))).lines
                .map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
            for must in musts { XCTAssertTrue(text.contains(must), "\(name) at 40x12 lost \"\(must)\":\n\(text)") }
            let tiny = Screen.render(model(state, at: at, 20, 5)).lines.joined(separator: "\n")
            XCTAssertTrue(tiny.contains(musts[0]), "\(name) at 20x5:\n\(tiny)")
        }
    }

    func testAPinnedLayoutNeverTrapsOnATinyTerminal() async {
        let s = await demoState(.badCanary, at: 160)
        for kind in LayoutKind.allCases {
            for (w, h) in [(80, 8), (80, 3), (10, 30), (1, 1), (0, 5), (200, 9)] {
                var m = model(s, at: 160, w, h)
                m.layout = kind
                _ = Screen.render(m) // a grid pinned at 80x8 trapped in CellGrid.fill
                m.zoomed = true
                _ = Screen.render(m)
            }
        }
    }

    func testLayoutChoice() {
        XCTAssertEqual(LayoutKind.choose(width: 120, height: 40), .grid)
        XCTAssertEqual(LayoutKind.choose(width: 100, height: 24), .grid)
        XCTAssertEqual(LayoutKind.choose(width: 80, height: 24), .stacked)
        XCTAssertEqual(LayoutKind.choose(width: 79, height: 19), .compact)
        XCTAssertEqual(LayoutKind.choose(width: 50, height: 40), .compact)
    }

    func testEveryPaneAloneMatchesItsExpectedText() async {
        let s = await demoState(.badCanary, at: 160)
        let m = model(s, at: 160, 60, 9)
        var g = CellGrid(width: 60, height: 9)
        TrafficPane.render(m, into: &g, rect: Rect(x: 0, y: 0, width: 60, height: 9), focused: true)
        XCTAssertEqual(g.lines, [
            "┌ ▶ 2 Traffic ─────────────────────────────────────────────┐",
            "│ v2.3.0 █████████████████████████████████████████░░   95% │",
            "│ v2.4.0 ██░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░    5% │",
            "│                                                          │",
            "│ steps 1%✓  ▶5%  25%  50%  100%                           │",
            "│ held by judge: errors: v2.4.0 28 in 2,755 requests       │",
            "│ (1.0%), v2.3.0 225 in 52,261 (0.43%) over the step: 2.4× │",
            "│ — held after 10s at 5%                                   │",
            "└──────────────────────────────────────────────────────────┘",
        ])
        var p = CellGrid(width: 44, height: 8)
        PipelinePane.render(model(await demoState(.good, at: 25), at: 25, 44, 8), into: &p, rect: Rect(x: 0, y: 0, width: 44, height: 8), focused: false)
        XCTAssertEqual(p.lines, [
            "┌ 1 Pipeline ──────────────────────────────┐",
            "│ ✓ wait for build                      8s │",
            "│ ✓ process build                       8s │",
            "│ ● build container                    9s… │",
            "│ ○ release container                      │",
            "│                                          │",
            "│   Step 5/6 : EXPOSE 8080                 │",
            "└──────────────────────────────────────────┘",
        ])
    }

    func testTinyTerminalsGetASummaryAndNothingBreaks() async {
        let s = await demoState(.badCanary, at: 160)
        let g = Screen.render(model(s, at: 160, 30, 6))
        XCTAssertEqual(g.lines, [
            "checkout v2.4.0",
            "HELD 2/5",
            "v2.3.0 95% err 0.41%",
            "v2.4.0 5% err 8.3%",
            "p promote to 25% · r revert ·…",
            "judge: errors: v2.4.0 28 in 2…",
        ], "what to do next and why, before the reminder of the keys")
        for w in [0, 1, 2, 5, 13, 59, 60, 61, 99, 100, 101, 250] {
            for h in [0, 1, 2, 3, 7, 19, 20, 23, 24, 25, 60] {
                var m = model(s, at: 160, w, h)
                _ = Screen.render(m)
                m.mode = .help
                _ = Screen.render(m)
                m.mode = .revertReason("部署 reason")
                _ = Screen.render(m)
            }
        }
    }

    func testWideTextTakesTwoColumnsAndNeverBreaksTheBox() {
        var f = EventFixture.rolling(step: 1)
        f.add(.chatMessage(from: "美咲", text: "部署は順調です、ありがとう 🎉 all good"))
        f.add(.chatMessage(from: "eve", text: "\u{1b}[2J\u{1b}[31mowned"))
        let m = UIModel(deploy: f.state, now: f.t, user: "you", width: 40, height: 8)
        var g = CellGrid(width: 40, height: 8)
        TeamPane.render(m, into: &g, rect: Rect(x: 0, y: 0, width: 40, height: 8), focused: false)
        let lines = g.lines
        XCTAssertTrue(lines.contains("│ 16:00:05 美咲: 部署は順調です、あり  │"), lines.joined(separator: "\n"))
        XCTAssertTrue(lines.contains("│          がとう 🎉 all good          │"), lines.joined(separator: "\n"))
        XCTAssertTrue(lines.contains("│ 16:00:06 eve: ^[[2J^[[31mowned       │"), lines.joined(separator: "\n"))
        for line in lines { XCTAssertEqual(CharWidth.of(line), 40, line) }
        // A wide character that does not fit at the edge is never half a glyph: the cut is
        // marked with `…` in the column left (a space where the mark is not wanted).
        var edge = CellGrid(width: 5, height: 1)
        edge.put("ab部署", x: 0, y: 0)
        XCTAssertEqual(edge.lines, ["ab部…"])
        var plain = CellGrid(width: 5, height: 1)
        plain.put("ab部署", x: 0, y: 0, mark: false)
        XCTAssertEqual(plain[4, 0].text, " ")
        // Cut text ends in `…`, a wide last character included (both its columns give way).
        var cut = CellGrid(width: 6, height: 1)
        cut.put("abcd部x", x: 0, y: 0, limit: 6)
        XCTAssertEqual(cut.lines, ["abcd…"])
        XCTAssertEqual(cut[5, 0], Cell(" ", .text), "no half of the wide character is left")
        var fits = CellGrid(width: 6, height: 1)
        fits.put("abcdef", x: 0, y: 0)
        XCTAssertEqual(fits.lines, ["abcdef"], "text that fits is not marked")
    }

    func testRolesCarryTheMeaningForColours() async {
        let s = await demoState(.badCanary, at: 160)
        let g = Screen.render(model(s, at: 160, 120, 40))
        let text = g.lines
        let row = text.firstIndex { $0.contains("│ v2.4.0") && $0.contains("ms") }!
        let col = Array(text[row]).firstIndex(of: "%")!
        XCTAssertEqual(g[col, row].role, .bad, "the canary's error rate over the threshold is drawn as bad")
        XCTAssertEqual(g[0, 0].role, .headerAccent)
    }

    func testLatencySparklinesStayReadableWhenTheOldVersionGetsNoTraffic() {
        // At 100% with a bake: the old version gets no requests, the new one a steady ~140 ms.
        let f = EventFixture.rolling(step: 1)
        var s = f.state
        var t = f.t
        var seq = s.lastSeq
        func sample(_ v: String, _ n: Int, _ p99: Double) {
            seq += 1
            Reducer.reduce(&s, DeployEvent(seq: seq, ts: t, deploy: "d", payload: .metricsSample(MetricsSample(version: v, requests: n, errors: 0, p50: p99 / 3, p99: p99, window: 1, latencyIsMean: false))))
        }
        for i in 0..<120 {
            t = t + 1
            if i < 40 { sample("v1", 100, 140); sample("v2", 5, 140) } else { sample("v2", 100, 138 + Double(i % 5)) }
        }
        var m = UIModel(deploy: s, now: t, user: "you", width: 120, height: 40)
        m.layout = .grid
        let row = Screen.render(m).lines.first { $0.hasPrefix("│ v2 ") }!
        let spark = row.split(separator: "│")[0].split(separator: " ").last.map(String.init) ?? ""
        XCTAssertGreaterThan(spark.count, 6, row)
        XCTAssertFalse(spark.allSatisfy { $0 == "█" }, "a steady latency drawn as solid blocks: \(row)")
        XCTAssertTrue(spark.contains("▄") || spark.contains("▃") || spark.contains("▅"), "a healthy line sits mid-height: \(row)")
    }

    /// A deploy whose pipeline failed in its third stage.
    func failedPipeline() -> (DeployState, Double) {
        var f = EventFixture()
        f.add(.deployStarted(service: "checkout", from: VersionRef(name: "v2.3.0", commit: "a"), to: VersionRef(name: "v2.4.0", commit: "b"),
                             plan: .standard, stages: ["wait for build", "process build", "build container", "release container"], by: "lee"))
        for st in ["wait for build", "process build"] { f.add(.stageStarted(stage: st)); f.add(.stageFinished(stage: st, status: .succeeded, seconds: 8)) }
        f.add(.stageStarted(stage: "build container"))
        f.add(.stageOutput(stage: "build container", line: "ERROR: failed to solve: go.sum mismatch"))
        f.add(.stageFinished(stage: "build container", status: .failed, seconds: 12))
        return (f.state, f.t.seconds - base.seconds)
    }

}
