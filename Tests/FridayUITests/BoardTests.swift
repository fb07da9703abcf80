import FridayCore
import FridayTesting
@testable import FridayUI
import XCTest

/// `friday board`'s model: the order (what needs a person first), what a row claims, the keys.
final class BoardTests: XCTestCase {
    override func tearDown() { Keymap.reset() }

    func row(_ service: String, step: Int? = 1, started: Double = 1000, _ change: (inout DeployState) -> Void = { _ in }) -> BoardEntry {
        var s = EventFixture.rolling(step: step).state
        s.service = service
        s.startedAt = Timestamp(seconds: started)
        change(&s)
        return BoardEntry(address: "/run/\(service).sock", state: s, now: Timestamp(seconds: started + 125))
    }

    func board(_ entries: [BoardEntry]) -> BoardModel {
        var b = BoardModel(width: 130, height: 12, glyphs: .unicode, folder: "/run")
        for e in entries { b.upsert(e) }
        return b
    }

    func testRowsAreSortedByWhatNeedsAPersonFirstAndTheSelectionFollowsItsDeploy() {
        let done = row("done") { $0.phase = .finished(.promoted) }
        let judging = row("judging")
        let held = row("held") { $0.paused = DeployState.Pause(by: "ana", reason: "looking", at: Timestamp(seconds: 1050), remaining: 10) }
        let failed = row("failed") { $0.phase = .finished(.reverted) }
        let router = row("router") { $0.routerProblem = "HAProxy did not answer" }
        let pipeline = row("pipe", step: nil)
        var gone = row("gone")
        gone.gone = "engine ended"
        var b = board([done, judging, gone, held, pipeline, failed, router])
        // failed and router are both FAILED and started at once: by name.
        XCTAssertEqual(b.rows.map(\.state.service), ["failed", "router", "held", "judging", "pipe", "done", "gone"])
        XCTAssertEqual(b.rows.map(\.need), [.failed, .failed, .held, .judging, .pipeline, .done, .gone])
        let text = b.render().lines.joined(separator: "\n")
        XCTAssertTrue(text.contains("7 deploys · 3 need you"), text)
        XCTAssertTrue(text.contains("paused by ana: looking"), text)
        XCTAssertTrue(text.contains("router: HAProxy did not answer"), text)
        XCTAssertTrue(text.contains("2m05s"), "the age is the engine's clock less the start: \(text)")

        // Select "judging"; when it becomes held it moves up and stays selected.
        b.selected = judging.address
        var nowHeld = judging
        nowHeld.state.paused = DeployState.Pause(by: "bo", reason: "", at: Timestamp(seconds: 1100), remaining: nil)
        b.upsert(nowHeld)
        XCTAssertEqual(b.selected, judging.address)
        XCTAssertEqual(b.key(.enter), .attach(address: judging.address, action: nil))
        XCTAssertEqual(b.key(.up), nil)
        XCTAssertEqual(b.key(.enter), .attach(address: held.address, action: nil), "the row above, both held, by name")
        _ = b.key(.home)
        XCTAssertEqual(b.key(.enter), .attach(address: failed.address, action: nil))
        _ = b.key(.end)
        XCTAssertEqual(b.key(.enter), nil, "the last row's engine ended")
    }

    func testAThreeVersionRowNamesEveryCandidateItsSplitAndTheOneTakenOut() {
        let three = row("cart") { s in
            s.to = VersionRef(name: "v2.4.0-a", commit: "a")
            s.plan = RolloutPlan(steps: [RolloutStep(weight: 20, pause: .seconds(60), weights: [VersionWeight(version: "v1", percent: 80), VersionWeight(version: "v2.4.0-a", percent: 10), VersionWeight(version: "v2.4.0-b", percent: 10)]),
                                         RolloutStep(weight: 100, pause: .seconds(0), weights: [VersionWeight(version: "v1", percent: 0), VersionWeight(version: "v2.4.0-a", percent: 50), VersionWeight(version: "v2.4.0-b", percent: 50)])],
                                 moreCandidates: [VersionRef(name: "v2.4.0-b", commit: "b")])
            s.stepIndex = 0
            s.candidatesOut = ["v2.4.0-b"]
            s.observed = [VersionWeight(version: "v1", percent: 89), VersionWeight(version: "v2.4.0-a", percent: 11), VersionWeight(version: "v2.4.0-b", percent: 0)]
        }
        XCTAssertEqual(BoardModel.split(three.state), "89/11/0")
        XCTAssertTrue(BoardModel.verdict(three).hasPrefix("v2.4.0-b out · "), BoardModel.verdict(three))
        let text = board([three]).render().lines.joined(separator: "\n")
        XCTAssertTrue(text.contains("v1 → v2.4.0-a, v2.4.0-b"), text)
    }

    func testTheSplitIsOnlyWhatTheRouterReadBack() {
        let wantedOnly = row("a") { s in
            s.wanted = [VersionWeight(version: "v1", percent: 90), VersionWeight(version: "v2", percent: 10)]
            s.observed = []
        }
        let read = row("b") { s in
            s.wanted = [VersionWeight(version: "v1", percent: 90), VersionWeight(version: "v2", percent: 10)]
            s.observed = [VersionWeight(version: "v1", percent: 95), VersionWeight(version: "v2", percent: 5)]
        }
        XCTAssertEqual(BoardModel.split(wantedOnly.state), "—")
        XCTAssertEqual(BoardModel.split(read.state), "95/5")
        let text = board([wantedOnly, read]).render().lines.joined(separator: "\n")
        XCTAssertFalse(text.contains("90/10"), text)
    }

    func testActingKeysAttachWithTheirActionAsTheKeymapHasItAndAnEndedEngineIsRefused() {
        var b = board([row("one")])
        XCTAssertEqual(b.key(.char("r")), .attach(address: "/run/one.sock", action: .revert))
        XCTAssertEqual(b.key(.space), .attach(address: "/run/one.sock", action: .togglePause))
        XCTAssertEqual(b.key(.char("P")), .attach(address: "/run/one.sock", action: .promoteFull))
        XCTAssertEqual(b.key(.char("m")), nil, "chat is not an acting key: it does nothing on the board")
        XCTAssertEqual(b.key(.paste("r p\nyes")), nil, "a paste is never keys")
        XCTAssertEqual(b.message, "a paste does nothing on the board")
        XCTAssertEqual(b.key(.char("q")), .quit)
        // The person's own keys: promote on w, and p no longer promotes.
        Keymap.install([.promote: [.char("w")]])
        XCTAssertEqual(b.key(.char("w")), .attach(address: "/run/one.sock", action: .promote))
        XCTAssertEqual(b.key(.char("p")), nil)
        XCTAssertTrue(b.render().lines.last!.contains("w promote"), b.render().lines.last!)
        var ended = row("one")
        ended.gone = "engine ended: stopped by ana"
        b.upsert(ended)
        XCTAssertEqual(b.key(.enter), nil)
        XCTAssertEqual(b.message, "one: engine ended: stopped by ana")
        XCTAssertEqual(b.key(.char("r")), nil)
        var empty = board([])
        XCTAssertEqual(empty.key(.enter), nil)
        XCTAssertTrue(empty.render().lines.joined().contains("No deploy is being served"))
    }

    func testHostileTextInARowIsShownNeutralised() {
        let hostile = "\u{1b}]0;owned\u{07}\u{1b}]52;c;ZWNobyBwd25lZA==\u{07}\u{1b}[31mred\u{9b}2J\u{202e}evil\u{2066}"
        let e = row("svc") { $0.paused = DeployState.Pause(by: "x", reason: hostile, at: Timestamp(seconds: 1001), remaining: nil) }
        let g = board([e]).render()
        for cell in g.cells {
            for u in cell.text.unicodeScalars {
                XCTAssertFalse(u.value < 0x20 || (0x7f...0x9f).contains(u.value) || (0x202a...0x202e).contains(u.value) || (0x2066...0x2069).contains(u.value),
                               "raw U+\(String(u.value, radix: 16)) on the board")
            }
        }
    }

    func testEscapeGoesBackToTheBoardOnlyWhenOpenedFromItAndClosesAZoomFirst() {
        let f = EventFixture.rolling(step: 1)
        var m = UIModel(deploy: f.state, now: f.t, user: "you")
        XCTAssertEqual(m.update(.key(.escape)), [], "a dashboard of its own ignores a lone Esc")
        m.escapeReturns = true
        _ = m.update(.key(.char("z")))
        XCTAssertTrue(m.zoomed)
        XCTAssertEqual(m.update(.key(.escape)), [])
        XCTAssertFalse(m.zoomed)
        XCTAssertEqual(m.update(.key(.escape)), [.quit])
        // The board's r opens the same revert dialog as the dashboard's own key.
        XCTAssertEqual(m.act(.revert), [])
        XCTAssertEqual(m.mode, .revertReason(""))
        XCTAssertEqual(m.update(.key(.escape)), [], "Esc closes the dialog, not the dashboard")
        XCTAssertEqual(m.mode, .normal)
    }
}

extension BoardTests {
    /// Issue 24, item 7: an id on every row, a compact board at 60x20, the cursor on what
    /// needs a person whatever order the engines answered in, ended deploys kept and dimmed
    /// with how they ended, and a plain list that cuts nothing.
    func testTheBoardNamesEachDeployByIdOpensOnTheMostUrgentAndKeepsTheEnded() {
        var first = row("checkout") { $0.deployID = "checkout-a1" }
        first.address = "/run/a.sock"
        var second = row("checkout") { $0.deployID = "checkout-b2"; $0.phase = .finished(.reverted) }
        second.address = "/run/b.sock"
        var ended = row("cart") { $0.deployID = "cart-7"; $0.phase = .finished(.failed) }
        ended.gone = "engine ended (from its log)"
        // The judging row answers first; the failed one after: the cursor is on the failed one.
        let b = board([first, ended, second])
        XCTAssertEqual(b.selected, second.address, "the board opens on the most urgent row")
        let wide = b.render().lines
        XCTAssertTrue(wide[1].contains("NEED") && wide[1].contains("ID") && wide[1].contains("VERSIONS"), wide[1])
        XCTAssertTrue(wide.contains { $0.contains("checkout-a1") } && wide.contains { $0.contains("checkout-b2") }, wide.joined(separator: "\n"))
        // The ended deploy stays, at the bottom, dimmed, saying how it ended.
        let last = wide[4]
        XCTAssertTrue(last.contains("FAILED") && last.contains("cart-7") && last.contains("engine ended"), last)
        var g = b
        g.width = 60; g.height = 20
        let small = g.render()
        let lines = small.lines
        XCTAssertTrue(lines[1].contains("ID") && !lines[1].contains("VERSIONS"), "compact at 60 columns: \(lines[1])")
        XCTAssertTrue(lines.contains { $0.contains("checkout-a1") && $0.contains("2/5") }, lines.joined(separator: "\n"))
        XCTAssertTrue(lines.allSatisfy { CharWidth.of($0) <= 60 })
        XCTAssertTrue(lines.last!.contains("Enter attach") && lines.last!.contains("quit"), lines.last!)
        let endedRow = lines.firstIndex { $0.contains("cart-7") }!
        XCTAssertEqual(small[12, endedRow].role, .dim, "an ended deploy is dimmed")
        // A list for scripts cuts nothing (before, --list cut mid-number).
        var long = row("a-service-with-a-long-name") { $0.deployID = "a-deploy-id-well-over-twenty-four-characters" }
        long.address = "/run/l.sock"
        let plain = BoardModel.plainRows([long], glyphs: .unicode)
        XCTAssertTrue(plain[1].contains("a-deploy-id-well-over-twenty-four-characters") && plain[1].contains("a-service-with-a-long-name"), plain.joined(separator: "\n"))
        XCTAssertFalse(plain.joined().contains("…"))
        let json = BoardModel.json(ended)
        XCTAssertEqual(json["id"]?.stringValue, "cart-7")
        XCTAssertEqual(json["need"]?.stringValue, "FAILED")
        XCTAssertEqual(json["ended"]?.stringValue, "engine ended (from its log)")
    }
}
