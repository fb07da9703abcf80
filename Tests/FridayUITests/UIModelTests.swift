import FridayCore
import FridayTesting
@testable import FridayUI
import XCTest

final class UIModelTests: XCTestCase {
    func model(step: Int?) -> UIModel {
        let f = EventFixture.rolling(step: step)
        return UIModel(deploy: f.state, now: f.t, user: "you")
    }

    /// The fixture's step 1 with the judge's pass recorded.
    func passed(step: Int) -> UIModel {
        var m = model(step: step)
        Reducer.reduce(&m.deploy, DeployEvent(seq: m.deploy.lastSeq + 1, ts: m.now, deploy: m.deploy.deployID,
                                              payload: .analysisVerdict(step: step, verdict: .pass, summary: "passed", figures: [])))
        return m
    }

    func testPromoteAndPauseSendCommandsStraightAway() {
        var m = passed(step: 1)
        XCTAssertEqual(m.update(.key(.char("p"))), [.send(Command(.promote, by: "you"))], "a step the judge passed promotes at once")
        XCTAssertEqual(m.update(.key(.space)), [.send(Command(.pause, by: "you"))])
        XCTAssertEqual(m.update(.key(.char("R"))), [], "a retry of a running rollout is refused in the footer (no dialog, nothing sent)")
        XCTAssertTrue(m.message?.text.hasPrefix("can't retry: ") ?? false, "\(String(describing: m.message))")
    }

    /// Issue 24, item 10: p over a step the judge has not passed asks for the word, says what
    /// the judge says now, and the team log says the promote came before the verdict.
    func testPromotingAStepTheJudgeHasNotPassedAsksAndTheLogSaysSo() {
        var m = model(step: 1)
        XCTAssertEqual(m.update(.key(.char("p"))), [])
        XCTAssertEqual(m.mode, .confirm(.promote, typed: ""))
        let screen = Screen.render(m).lines.joined(separator: "\n")
        XCTAssertTrue(screen.contains("Promote before the judge has passed step 2?"), screen)
        XCTAssertTrue(screen.contains("v2 5% → 25%"), screen)
        for c in "promote" { _ = m.update(.key(.char(c))) }
        XCTAssertEqual(m.update(.key(.enter)), [.send(Command(.promote, by: "you"))])
        var s = m.deploy
        Reducer.reduce(&s, DeployEvent(seq: s.lastSeq + 1, ts: m.now, deploy: s.deployID, payload: .commandAccepted(action: .promote, by: "ana", reason: nil)))
        XCTAssertEqual(s.log.last?.text, "ana promoted (5% → 25%) before the judge's verdict")
        var after = passed(step: 1).deploy
        Reducer.reduce(&after, DeployEvent(seq: after.lastSeq + 1, ts: m.now, deploy: after.deployID, payload: .commandAccepted(action: .promote, by: "ana", reason: nil)))
        XCTAssertEqual(after.log.last?.text, "ana promoted (5% → 25%)")
        // The retry's confirm says where it goes back to.
        var r = passed(step: 1)
        Reducer.reduce(&r.deploy, DeployEvent(seq: r.deploy.lastSeq + 1, ts: r.now, deploy: r.deploy.deployID, payload: .deployFinished(outcome: .reverted, by: "ana", reason: "x")))
        _ = r.update(.key(.char("R")))
        XCTAssertTrue(Screen.render(r).lines.joined().contains("back to step 1 of 5 (v2 at 1%); the judge starts over"))
        // No pause is not "pause 0s".
        XCTAssertEqual(EventFixture.rolling(step: 4).state.log.last?.text, "step 5/5: v2 at 100%")
    }

    func testCancellingAStageAsksForItsWordAndEnterShowsAStagesOutput() {
        var s = DeployState()
        let t = Timestamp(seconds: 1000)
        Reducer.reduce(&s, DeployEvent(seq: 0, ts: t, deploy: "d", payload: .deployStarted(service: "svc", from: VersionRef(name: "v1", commit: "a"), to: VersionRef(name: "v2", commit: "b"),
                                                                                      plan: RolloutPlan(steps: [RolloutStep(weight: 100, pause: .seconds(0))]), stages: ["build", "push"], by: "x")))
        Reducer.reduce(&s, DeployEvent(seq: 1, ts: t, deploy: "d", payload: .stageStarted(stage: "build")))
        for i in 0..<40 { Reducer.reduce(&s, DeployEvent(seq: 2 + i, ts: t, deploy: "d", payload: .stageOutput(stage: "build", line: "line \(i)"))) }
        var m = UIModel(deploy: s, now: t, user: "you", width: 100, height: 30)
        XCTAssertEqual(m.update(.key(.char("c"))), [])
        XCTAssertEqual(m.mode, .confirm(.cancel, typed: ""))
        XCTAssertTrue(Screen.render(m).lines.joined(separator: "\n").contains("Cancel stage build?"))
        XCTAssertEqual(m.update(.key(.enter)), [], "Enter alone cancels nothing")
        for c in "build" { _ = m.update(.key(.char(c))) }
        XCTAssertEqual(m.update(.key(.enter)), [.send(Command(.cancel, by: "you"))])

        // Enter in the pipeline pane: the running stage's output, newest last; Home goes to the start.
        // Focus starts on the team log: Enter there says how to reach the pipeline; 1 does.
        XCTAssertEqual(m.focus, .team)
        _ = m.update(.key(.enter))
        XCTAssertEqual(m.mode, .normal)
        _ = m.update(.key(.char("1")))
        XCTAssertEqual(m.focus, .pipeline)
        _ = m.update(.key(.enter))
        XCTAssertEqual(m.mode, .stageOutput(stage: 0, scroll: 0))
        var screen = Screen.render(m).lines.joined(separator: "\n")
        XCTAssertTrue(screen.contains("build · running") && screen.contains("line 39") && !screen.contains("line 0 "), screen)
        _ = m.update(.key(.home))
        screen = Screen.render(m).lines.joined(separator: "\n")
        XCTAssertTrue(screen.contains("line 0"), screen)
        _ = m.update(.key(.right))
        XCTAssertEqual(m.mode, .stageOutput(stage: 1, scroll: 0))
        XCTAssertTrue(Screen.render(m).lines.joined(separator: "\n").contains("(no output yet)"))
        _ = m.update(.key(.escape))
        XCTAssertEqual(m.mode, .normal)

        // A viewer's c is refused with the reason, no dialog.
        m.role = .viewer
        XCTAssertEqual(m.update(.key(.char("c"))), [])
        XCTAssertEqual(m.mode, .normal)
        XCTAssertEqual(m.message?.text, UIModel.viewerRefusal)
    }

    func testRevertAsksForAReasonThenSendsIt() {
        var m = model(step: 2)
        XCTAssertEqual(m.update(.key(.char("r"))), [])
        XCTAssertEqual(m.mode, .revertReason(""))
        let screen = Screen.render(m).lines.joined(separator: "\n")
        XCTAssertTrue(screen.contains("v2 25% → 0% at once; v1 takes all traffic;"), screen)
        XCTAssertEqual(m.update(.key(.enter)), [], "no reason, no revert")
        XCTAssertEqual(m.message?.text, "a revert needs a reason for the team log")
        for c in "5xx" { _ = m.update(.key(.char(c))) }
        _ = m.update(.key(.backspace))
        _ = m.update(.key(.char("X")))
        XCTAssertEqual(m.update(.key(.enter)), [], "the reason is given; now the word")
        XCTAssertEqual(m.mode, .revertConfirm(reason: "5xX", typed: ""))
        XCTAssertEqual(m.update(.key(.enter)), [], "Enter alone does not revert")
        for c in "revert" { _ = m.update(.key(.char(c))) }
        XCTAssertEqual(m.update(.key(.enter)), [.send(Command(.revert, by: "you", text: "5xX"))])
        XCTAssertEqual(m.mode, .normal)
        _ = m.update(.key(.char("r")))
        XCTAssertEqual(m.update(.key(.escape)), [])
        XCTAssertEqual(m.mode, .normal)
    }

    func testPromoteFullConfirmsWithWhatWillHappen() {
        var m = model(step: 1)
        XCTAssertEqual(m.update(.key(.char("P"))), [])
        XCTAssertEqual(m.mode, .confirm(.promoteFull, typed: ""))
        let screen = Screen.render(m).lines.joined(separator: "\n")
        XCTAssertTrue(screen.contains("v2 5% → 100% now, skipping steps 25%, 50%, 3 pauses and"), screen)
        XCTAssertTrue(screen.contains("opened by you"), screen)
        XCTAssertTrue(screen.contains("Type promote or v2, then Enter:"), screen)
        XCTAssertEqual(m.update(.key(.escape)), [])
        XCTAssertEqual(m.mode, .normal)
        _ = m.update(.key(.char("P")))
        for c in "v2" { _ = m.update(.key(.char(c))) }
        XCTAssertEqual(m.update(.key(.enter)), [.send(Command(.promoteFull, by: "you"))])
    }

    /// Someone else's chat typed while the dialog is open does not confirm it: "y" and
    /// Enter are text; only the word or the version then Enter does.
    func testOrdinaryTypingNeverConfirmsADangerousDialog() {
        var m = model(step: 1)
        _ = m.update(.key(.char("P")))
        var sent: [UIEffect] = []
        for c in "my take: yes, wait" { sent += m.update(.key(.char(c))) }
        sent += m.update(.key(.enter))
        sent += m.update(.key(.char("y")))
        sent += m.update(.key(.enter))
        XCTAssertEqual(sent, [], "nothing sent")
        XCTAssertEqual(m.message?.text, "type promote or v2, then Enter (Esc cancels)")
        // A paste of the word is text too, and an escape sequence inside changes nothing.
        m.mode = .confirm(.promoteFull, typed: "")
        _ = m.update(.key(.sequence))
        _ = m.update(.key(.paste("promote")))
        XCTAssertEqual(m.update(.key(.enter)), [.send(Command(.promoteFull, by: "you"))])
    }

    func testPastesAreTextAndSequencesAreIgnored() {
        var m = model(step: 2)
        // Outside a text field a paste does nothing, and says so.
        XCTAssertEqual(m.update(.key(.paste("all good, ship it p"))), [])
        XCTAssertEqual(m.message?.text, "a paste does nothing here: press m to type into the team log first")
        // Inside the chat field a paste is text: its "p" promotes nothing, its newline was a space.
        _ = m.update(.key(.char("m")))
        XCTAssertEqual(m.update(.key(.paste("checked the dashboards all good, ship it"))), [])
        // An escape sequence inside typed text (ESC ] 0 ; … BEL) is read whole and ignored: it neither closes the field nor acts.
        XCTAssertEqual(m.update(.key(.sequence)), [])
        for c in " ok" { XCTAssertEqual(m.update(.key(.char(c))), []) }
        XCTAssertEqual(m.update(.key(.enter)), [.send(Command(.say, by: "you", text: "checked the dashboards all good, ship it ok"))])
        XCTAssertEqual(m.mode, .normal)
    }

    func testRetryAndPromotingPastAPersonsHoldAskForTheWord() {
        var f = EventFixture.rolling(step: 1)
        f.add(.deployPaused(by: "maya", reason: "checking logs"))
        var m = UIModel(deploy: f.state, now: f.t, user: "you")
        XCTAssertEqual(m.update(.key(.char("p"))), [])
        XCTAssertEqual(m.mode, .confirm(.promote, typed: ""))
        XCTAssertTrue(Screen.render(m).lines.joined().contains("Promote past maya's hold?"))
        for c in "promote" { _ = m.update(.key(.char(c))) }
        XCTAssertEqual(m.update(.key(.enter)), [.send(Command(.promote, by: "you"))])
    }

    func testARefusedDangerousKeySkipsTheDialogAndShowsWhy() {
        var m = model(step: nil)
        // Refused here, in the footer: nothing is sent, nothing goes to the team log.
        let logged = m.deploy.log.count
        XCTAssertEqual(m.update(.key(.char("r"))), [])
        XCTAssertEqual(m.mode, .normal)
        XCTAssertTrue(m.message?.text.hasPrefix("can't revert: ") ?? false, "\(String(describing: m.message))")
        XCTAssertEqual(m.deploy.log.count, logged)
        XCTAssertEqual(m.update(.key(.char("p"))), [])
        XCTAssertTrue(m.message?.isError ?? false)
        // A refusal the engine makes (another client's state, a race) still reaches the footer.
        var f = EventFixture.rolling(step: nil)
        f.add(.commandRejected(action: .revert, by: "you", why: "nothing to revert: v2 takes no traffic yet"))
        _ = m.update(.engine(f.events.last!))
        XCTAssertEqual(m.message?.text, "can't revert: nothing to revert: v2 takes no traffic yet")
        XCTAssertTrue(Screen.render(m).lines.last!.contains("can't revert: nothing to revert"))
        XCTAssertTrue(m.deploy.log.last!.text.contains("revert by you refused"))
    }

    func testFooterShowsOnlyTheKeysThatApplyNow() {
        var m = model(step: nil)
        m.width = 120; m.height = 40
        XCTAssertEqual(Screen.render(m).lines.last, " m say  ? help  q quit")
        var r = model(step: 1)
        r.width = 120; r.height = 40
        XCTAssertEqual(Screen.render(r).lines.last, " p promote  P to 100%  space pause  r revert  m say  ? help  q quit")
    }

    func testChatHelpFocusAndScroll() {
        var m = model(step: 1)
        _ = m.update(.key(.char("m")))
        for c in "hi 部署" { _ = m.update(.key(.char(c))) }
        XCTAssertTrue(Screen.render(m).lines.last!.hasPrefix(" say: hi 部署"))
        XCTAssertEqual(m.update(.key(.enter)), [.send(Command(.say, by: "you", text: "hi 部署"))])
        _ = m.update(.key(.char("?")))
        XCTAssertEqual(m.mode, .help)
        let help = Screen.render(m).lines.joined(separator: "\n")
        XCTAssertTrue(help.contains("R      retry: start a reverted or failed rollout again from its first step (not"), help)
        XCTAssertTrue(help.contains("now: retry applies to a reverted or failed rollout; this one is still running)"), help)
        _ = m.update(.key(.escape))
        XCTAssertEqual(m.mode, .normal)
        XCTAssertEqual(m.focus, .team, "focus starts on the team log")
        _ = m.update(.key(.tab))
        XCTAssertEqual(m.focus, .pipeline)
        _ = m.update(.key(.tab))
        XCTAssertEqual(m.focus, .traffic)
        _ = m.update(.key(.backTab))
        _ = m.update(.key(.backTab))
        XCTAssertEqual(m.focus, .team)
        for (digit, pane) in [("3", PaneID.errors), ("2", .traffic), ("1", .pipeline), ("4", .team)] {
            _ = m.update(.key(.char(Character(digit))))
            XCTAssertEqual(m.focus, pane, "digit \(digit)")
        }
        _ = m.update(.key(.char("k")))
        _ = m.update(.key(.up))
        _ = m.update(.key(.char("j")))
        XCTAssertEqual(m.scroll[.team] ?? 0, 0, "a log that fits its pane does not scroll")
        XCTAssertEqual(m.update(.key(.char("q"))), [.quit])
    }

    func testAGapInSequenceNumbersAsksForAResync() {
        var m = model(step: 1)
        var f = EventFixture.rolling(step: 1)
        f.add(.chatMessage(from: "a", text: "1"))
        f.add(.chatMessage(from: "a", text: "2"))
        XCTAssertEqual(m.update(.engine(f.events.last!)), [.resync])
        XCTAssertEqual(m.update(.engine(f.events[f.events.count - 2])), [])
        XCTAssertEqual(m.update(.engine(f.events[0])), [], "old events are ignored")
        XCTAssertEqual(m.update(.resync(f.state)), [])
        XCTAssertEqual(m.deploy.lastSeq, f.events.count - 1)
    }
}

final class LayoutHoldTests: XCTestCase {
    /// tmux `window-size latest` flips the window between two people's sizes as they type:
    /// the layout follows only a size that has held for a second.
    func testALayoutChangeWaitsUntilTheSizeHasHeld() {
        var h = LayoutHold(hold: 1.0)
        XCTAssertEqual(h.kind(width: 120, height: 40, at: 0), .grid)
        // Alternating every 0.3 s between 120x40 and 80x24: stays grid.
        var t = 0.0
        for i in 0..<20 {
            t += 0.3
            XCTAssertEqual(h.kind(width: i % 2 == 0 ? 80 : 120, height: i % 2 == 0 ? 24 : 40, at: t), .grid, "flipped at \(t)")
        }
        // 80x24 holds: stacked after a second.
        XCTAssertEqual(h.kind(width: 80, height: 24, at: t + 0.1), .grid)
        XCTAssertEqual(h.kind(width: 80, height: 24, at: t + 0.6), .grid)
        XCTAssertEqual(h.kind(width: 80, height: 24, at: t + 1.2), .stacked)
    }

    func testAPinnedLayoutIsKeptAtAnySize() {
        var h = LayoutHold(pinned: .stacked)
        XCTAssertEqual(h.kind(width: 200, height: 60, at: 0), .stacked)
        XCTAssertEqual(h.kind(width: 40, height: 10, at: 5), .stacked)
        var m = UIModel(now: Timestamp(seconds: 0), user: "you", width: 120, height: 40)
        m.layout = .stacked
        let lines = Screen.render(m).lines
        XCTAssertTrue(lines[1].hasPrefix("┌ 1 Pipeline") && lines[1].count == 120 && !lines[1].contains("Traffic"), lines[1])
    }
}

extension UIModelTests {
    func testTextFieldsEditLikeAShellAndKeepTheDraftOnEsc() {
        var m = model(step: 1)
        _ = m.update(.key(.char("m")))
        for c in "ship it now" { _ = m.update(.key(.char(c))) }
        // Ctrl-W the last word, ← twice, type, Home, type, End.
        _ = m.update(.key(.other(23)))
        XCTAssertEqual(m.mode, .chat("ship it "))
        _ = m.update(.key(.left)); _ = m.update(.key(.left))
        _ = m.update(.key(.char("X")))
        XCTAssertEqual(m.mode, .chat("ship iXt "))
        _ = m.update(.key(.home)); _ = m.update(.key(.char(">")))
        XCTAssertEqual(m.mode, .chat(">ship iXt "))
        XCTAssertTrue(Screen.render(m).lines.last!.hasPrefix(" say: >▏ship iXt"), Screen.render(m).lines.last!)
        _ = m.update(.key(.backspace))
        _ = m.update(.key(.end)); _ = m.update(.key(.backspace))
        XCTAssertEqual(m.mode, .chat("ship iXt"))
        // Esc keeps the draft; m opens it again with the cursor at its end.
        _ = m.update(.key(.escape))
        XCTAssertEqual(m.mode, .normal)
        XCTAssertTrue(m.message?.text.contains("draft kept") ?? false)
        _ = m.update(.key(.char("m")))
        XCTAssertEqual(m.mode, .chat("ship iXt"))
        _ = m.update(.key(.other(21)))
        XCTAssertEqual(m.mode, .chat(""))
        // The limit takes no more, and says how near it is.
        for _ in 0..<320 { _ = m.update(.key(.char("a"))) }
        XCTAssertEqual(m.mode, .chat(String(repeating: "a", count: 300)))
        XCTAssertTrue(Screen.render(m).lines.last!.contains("300/300"), Screen.render(m).lines.last!)
        XCTAssertEqual(m.update(.key(.enter)), [.send(Command(.say, by: "you", text: String(repeating: "a", count: 300)))])
        _ = m.update(.key(.char("m")))
        XCTAssertEqual(m.mode, .chat(""), "a sent line is no longer a draft")
        // In an 80-column footer the text and the cursor are not covered by the hint.
        m.width = 80
        for c in "checked the dashboards" { _ = m.update(.key(.char(c))) }
        let foot = Screen.render(m).lines.last!
        XCTAssertTrue(foot.contains("checked the dashboards▏"), foot)
    }

    func testScrollingStopsAtTheOldestLineAndEndGoesBackToLive() {
        // A half-empty team pane does not scroll at all: 45 presses move nothing and say nothing.
        var m = model(step: 1)
        m.focus = .team
        for _ in 0..<45 { _ = m.update(.key(.char("k"))) }
        XCTAssertEqual(m.scroll[.team] ?? 0, 0)
        XCTAssertFalse((Screen.render(m).lines.first { $0.contains("Team") } ?? "").contains("back"))
        // A long log scrolls up to its oldest line at the pane's top, and no further.
        var f = EventFixture.rolling(step: 1)
        for i in 0..<80 { f.add(.chatMessage(from: "maya", text: "line \(i)")) }
        m = UIModel(deploy: f.state, now: f.t, user: "you", width: 120, height: 40)
        m.focus = .team
        _ = m.update(.key(.home))
        let limit = m.scroll[.team] ?? 0
        XCTAssertGreaterThan(limit, 0)
        XCTAssertEqual(limit, m.scrollLimit)
        _ = m.update(.key(.char("k")))
        XCTAssertEqual(m.scroll[.team], limit, "k past the oldest line moves nothing more")
        let text = Screen.render(m).lines.joined(separator: "\n")
        XCTAssertTrue(text.contains("\(limit) back · End: live"), text)
        XCTAssertTrue(text.contains(f.state.log.first!.text), "Home shows the oldest line: \(text)")
        _ = m.update(.key(.end))
        XCTAssertEqual(m.scroll[.team], 0)
        _ = m.update(.key(.pageUp))
        XCTAssertEqual(m.scroll[.team], min(limit, 18))
        _ = m.update(.key(.char("G")))
        XCTAssertEqual(m.scroll[.team], 0)
        m.focus = .traffic
        _ = m.update(.key(.char("k")))
        XCTAssertEqual(m.scroll[.traffic] ?? 0, 0)
    }

    func testHelpReachesItsLastLineAndALongReasonKeepsItsCursorAndHint() {
        var m = model(step: 1)
        m.width = 60; m.height = 10
        _ = m.update(.key(.char("?")))
        for _ in 0..<200 { _ = m.update(.key(.char("j"))) }
        var text = Screen.render(m).lines.joined(separator: "\n")
        XCTAssertTrue(text.contains("quit the screen"), text)
        _ = m.update(.key(.char("k")))
        XCTAssertNotEqual(Screen.render(m).lines.joined(separator: "\n"), text, "one k moves back at once (no dead presses)")
        _ = m.update(.key(.escape))
        m.width = 60; m.height = 8
        _ = m.update(.key(.char("r")))
        for c in String(repeating: "checkout 5xx ", count: 19) + "END" { _ = m.update(.key(.char(c))) }
        text = Screen.render(m).lines.joined(separator: "\n")
        XCTAssertTrue(text.contains("END▏"), "the cursor row: \(text)")
        XCTAssertTrue(text.contains("Enter next"), "the hint: \(text)")
    }

    func testAReplayActsOnNothingAndItsHelpShowsItsOwnKeys() {
        var m = model(step: 1)
        m.replay = true
        for k: Key in [.char("P"), .char("r"), .char("p"), .space, .char("R"), .char("m"), .char("c")] {
            XCTAssertEqual(m.update(.key(k)), [], "\(k)")
            XCTAssertEqual(m.mode, .normal, "\(k) opened something in a replay")
            XCTAssertTrue(m.message?.text.hasPrefix("a replay acts on nothing") ?? false, "\(k): \(String(describing: m.message))")
        }
        _ = m.update(.key(.char("?")))
        let help = Screen.render(m).lines.joined(separator: "\n")
        XCTAssertTrue(help.contains("Replay keys") && help.contains("play / pause") && !help.contains("promote full"), help)
    }
}

extension UIModelTests {
    func testHelpScrollsAndDialogsNeverHideWhatIsTyped() {
        var m = model(step: 1)
        m.width = 60; m.height = 20
        _ = m.update(.key(.char("?")))
        var screen = Screen.render(m).lines.joined(separator: "\n")
        XCTAssertTrue(screen.contains("Esc or ? closes"), screen)
        XCTAssertTrue(screen.contains("more"), "the box says there is more: \(screen)")
        XCTAssertFalse(screen.contains("back to live"), "the last binding is below the fold at 60x20")
        for _ in 0..<30 { _ = m.update(.key(.char("j"))) }
        screen = Screen.render(m).lines.joined(separator: "\n")
        XCTAssertTrue(screen.contains("quit the screen") && screen.contains("Esc or ? closes"), screen)
        _ = m.update(.key(.escape))
        // The revert reason at 20x5: what is typed stays in sight.
        m.width = 20; m.height = 5
        _ = m.update(.key(.char("r")))
        for c in "p99 x3" { _ = m.update(.key(.char(c))) }
        screen = Screen.render(m).lines.joined(separator: "\n")
        XCTAssertTrue(screen.contains("> p99 x3▏"), screen)
        // And at 120x40 the whole dialog, with the field and its hint.
        m.width = 120; m.height = 40
        screen = Screen.render(m).lines.joined(separator: "\n")
        XCTAssertTrue(screen.contains("Reason for the team log:") && screen.contains("> p99 x3▏") && screen.contains("Enter next"), screen)
    }
}

extension UIModelTests {
    func testAFooterMessageGoesWhenTheStateMovesOn() {
        var f = EventFixture.rolling(step: 1)
        var m = UIModel(deploy: f.state, now: f.t, user: "you")
        _ = m.update(.key(.paste("x")))
        XCTAssertNotNil(m.message)
        _ = m.update(.tick(m.now + 600))
        XCTAssertNotNil(m.message, "time alone (simulated, at any speed) does not clear it")
        f.add(.deployPaused(by: "maya", reason: "checking"))
        _ = m.update(.engine(f.events.last!))
        XCTAssertNil(m.message, "the deploy moved on: the old message goes")
    }
}

extension UIModelTests {
    func testZoomShowsTheFocusedPaneOnTheWholeScreen() {
        var m = model(step: 1)
        m.width = 80; m.height = 24
        m.focus = .team
        _ = m.update(.key(.char("z")))
        let lines = Screen.render(m).lines
        XCTAssertTrue(lines[1].hasPrefix("┌ ▶ 4 Team"), lines[1])
        XCTAssertFalse(lines.contains { $0.contains("Traffic") })
        XCTAssertTrue(lines.last!.contains("z all panes"), lines.last!)
        _ = m.update(.key(.char("z")))
        XCTAssertTrue(Screen.render(m).lines.contains { $0.contains("┌ 2 Traffic") })
    }
}

extension UIModelTests {
    func testSlashSearchesTheTeamLogAndNMovesBetweenMatches() {
        var m = model(step: 1)
        m.width = 120; m.height = 40
        let all = m.deploy.log.indices.filter { m.deploy.log[$0].text.lowercased().contains("step") }
        XCTAssertGreaterThanOrEqual(all.count, 2, "the fixture has steps in its log")
        _ = m.update(.key(.char("/")))
        for c in "STEP" { _ = m.update(.key(.char(c))) }
        XCTAssertTrue(Screen.render(m).lines.last!.hasPrefix(" / team log: STEP▏"), Screen.render(m).lines.last!)
        _ = m.update(.key(.enter))
        XCTAssertEqual(m.focus, .team)
        XCTAssertEqual(m.searchHit, all.last)
        XCTAssertTrue(Screen.render(m).lines.joined().contains("/STEP \(all.count) of \(all.count)"), Screen.render(m).lines.joined(separator: "\n"))
        _ = m.update(.key(.char("n")))
        XCTAssertEqual(m.searchHit, all[all.count - 2])
        _ = m.update(.key(.char("N")))
        XCTAssertEqual(m.searchHit, all.last)
        _ = m.update(.key(.char("N")))
        XCTAssertEqual(m.message?.text, "no newer match: Esc to follow the log again")
        _ = m.update(.key(.escape))
        XCTAssertNil(m.searchTerm)
        _ = m.update(.key(.char("n")))
        XCTAssertEqual(m.message?.text, "no search yet: / to search the team log")
        _ = m.update(.key(.char("/"))); _ = m.update(.key(.char("q"))); _ = m.update(.key(.char("z"))); _ = m.update(.key(.enter))
        XCTAssertEqual(m.message?.text, "no \"qz\" in the team log", "typing q in the search field does not quit")
        // The search keys are in the keymap: a config that gives n to promote is a conflict.
        let (_, warnings) = UserConfig.parse("[keys]\npromote = \"n\"\n", file: "c.toml")
        XCTAssertTrue(warnings.contains { $0.contains("are both \"n\"") }, "\(warnings)")
    }

    func type(_ text: String, into m: inout UIModel) { for c in text { _ = m.update(.key(.char(c))) } }

    func testThePaletteRunsCommandsWithTheKeysRefusalsAndConfirms() {
        var m = model(step: 1)
        m.themeNames = ["default", "light", "solarized-dark", "solarized-light"]
        _ = m.update(.key(.char(":")))
        XCTAssertEqual(m.mode, .palette(""))
        // Tab completes a command's name, and lists the choices when there are several.
        type("pr", into: &m)
        _ = m.update(.key(.tab))
        XCTAssertEqual(m.mode, .palette("promote "))
        XCTAssertTrue(Screen.render(m).lines.last!.contains("end this pause and go to the next step"), Screen.render(m).lines.last!)
        XCTAssertEqual(m.update(.key(.enter)), [], "promote does what p does: the judge has not passed this step, so it asks")
        XCTAssertEqual(m.mode, .confirm(.promote, typed: ""))
        _ = m.update(.key(.escape))
        // A half-typed name never acts.
        _ = m.update(.key(.char(":"))); type("prom", into: &m)
        XCTAssertEqual(m.update(.key(.enter)), [])
        XCTAssertEqual(m.message?.text, "no command \"prom\": did you mean promote?")
        // revert <reason> opens the revert's confirm with the reason given: still the word to type.
        _ = m.update(.key(.char(":"))); type("revert p99 doubled", into: &m)
        XCTAssertEqual(m.update(.key(.enter)), [])
        XCTAssertEqual(m.mode, .revertConfirm(reason: "p99 doubled", typed: ""))
        type("revert", into: &m)
        XCTAssertEqual(m.update(.key(.enter)), [.send(Command(.revert, by: "you", text: "p99 doubled"))])
        // promote full asks as P does.
        _ = m.update(.key(.char(":"))); type("promote full", into: &m)
        XCTAssertEqual(m.update(.key(.enter)), [])
        XCTAssertEqual(m.mode, .confirm(.promoteFull, typed: ""))
        _ = m.update(.key(.escape))
        // pause, then pause again: refused with the reason; resume goes on.
        _ = m.update(.key(.char(":"))); type("pause", into: &m)
        XCTAssertEqual(m.update(.key(.enter)), [.send(Command(.pause, by: "you"))])
        _ = m.update(.key(.char(":"))); type("resume", into: &m)
        XCTAssertEqual(m.update(.key(.enter)), [], "not paused yet: nothing to resume")
        XCTAssertTrue(m.message?.text.hasPrefix("can't resume") ?? false, "\(String(describing: m.message))")
        // History: ↑ brings back the last commands, newest first.
        _ = m.update(.key(.char(":")))
        _ = m.update(.key(.up))
        XCTAssertEqual(m.mode, .palette("resume"))
        _ = m.update(.key(.up))
        XCTAssertEqual(m.mode, .palette("pause"))
        _ = m.update(.key(.down)); _ = m.update(.key(.down))
        XCTAssertEqual(m.mode, .palette(""))
        // theme: completion of the names, and the effect that redraws with it.
        type("theme sol", into: &m)
        _ = m.update(.key(.tab))
        XCTAssertEqual(m.mode, .palette("theme solarized-"))
        XCTAssertEqual(m.paletteChoices, ["solarized-dark", "solarized-light"])
        type("light", into: &m)
        XCTAssertEqual(m.update(.key(.enter)), [.theme("solarized-light")])
        _ = m.update(.key(.char(":"))); type("theme neon", into: &m)
        XCTAssertEqual(m.update(.key(.enter)), [])
        XCTAssertTrue(m.message?.text.hasPrefix("no theme \"neon\"") ?? false)
        // say, and quit.
        _ = m.update(.key(.char(":"))); type("say looks good", into: &m)
        XCTAssertEqual(m.update(.key(.enter)), [.send(Command(.say, by: "you", text: "looks good"))])
        _ = m.update(.key(.char(":"))); type("quit", into: &m)
        XCTAssertEqual(m.update(.key(.enter)), [.quit])
        // Letters typed in the palette are text, not keys; a paste is text and never Enter.
        _ = m.update(.key(.char(":"))); type("qpr", into: &m); _ = m.update(.key(.paste("omote\nx")))
        XCTAssertEqual(m.mode, .palette("qpromote\nx"))
        XCTAssertEqual(m.update(.key(.escape)), [])
        XCTAssertEqual(m.mode, .normal)
    }

    func testThePaletteActsOnNothingForAViewerOrInAReplay() {
        var m = model(step: 1)
        m.role = .viewer
        _ = m.update(.key(.char(":"))); type("promote", into: &m)
        XCTAssertEqual(m.update(.key(.enter)), [])
        XCTAssertEqual(m.message?.text, UIModel.viewerRefusal)
        _ = m.update(.key(.char(":"))); type("revert because", into: &m)
        XCTAssertEqual(m.update(.key(.enter)), [])
        XCTAssertEqual(m.mode, .normal)
        m.role = .operator
        m.replay = true
        _ = m.update(.key(.char(":"))); type("say hi", into: &m)
        XCTAssertEqual(m.update(.key(.enter)), [])
        XCTAssertTrue(m.message?.text.hasPrefix("a replay acts on nothing") ?? false)
    }

    func testFilterShowsOnlyTheTeamLogLinesWithTheText() {
        var m = model(step: 2)
        m.width = 120; m.height = 40
        let with = m.deploy.log.filter { $0.text.lowercased().contains("25%") }
        XCTAssertFalse(with.isEmpty)
        _ = m.update(.key(.char(":"))); type("filter 25%", into: &m); _ = m.update(.key(.enter))
        let screen = Screen.render(m).lines.joined(separator: "\n")
        XCTAssertTrue(screen.contains("filter \"25%\": \(with.count) of \(m.deploy.log.count)"), screen)
        for e in m.deploy.log where !e.text.contains("25%") && e.text.count > 12 {
            XCTAssertFalse(screen.contains(String(e.text.prefix(40))), "\(e.text) is filtered out:\n\(screen)")
        }
        _ = m.update(.key(.char(":"))); type("filter", into: &m); _ = m.update(.key(.enter))
        XCTAssertNil(m.filterTerm)
    }

    func testTheMouseFocusesAndScrollsButNeverActs() {
        var m = model(step: 1)
        m.width = 120; m.height = 40
        for i in 0..<80 { _ = m.update(.engine(DeployEvent(seq: m.deploy.lastSeq + 1, ts: m.now, deploy: "d", payload: .chatMessage(from: "bo", text: "line \(i)")))) }
        let rects = Screen.paneRects(kind: .grid, width: 120, height: 40, model: m)
        let team = rects.first { $0.0 == .team }!.1
        XCTAssertEqual(m.update(.key(.mouse(Mouse(.press(button: 1), x: team.x + 3, y: team.y + 2)))), [])
        XCTAssertEqual(m.focus, .team)
        _ = m.update(.key(.mouse(Mouse(.wheelUp, x: team.x + 3, y: team.y + 2))))
        XCTAssertEqual(m.scroll[.team], 3)
        _ = m.update(.key(.mouse(Mouse(.wheelDown, x: team.x + 3, y: team.y + 2))))
        XCTAssertEqual(m.scroll[.team], 0)
        let traffic = rects.first { $0.0 == .traffic }!.1
        _ = m.update(.key(.mouse(Mouse(.press(button: 1), x: traffic.x + 1, y: traffic.y + 1))))
        XCTAssertEqual(m.focus, .traffic)
        // Over a dialog a click does nothing: it never confirms.
        _ = m.update(.key(.char("P")))
        XCTAssertEqual(m.mode, .confirm(.promoteFull, typed: ""))
        for y in 0..<40 { XCTAssertEqual(m.update(.key(.mouse(Mouse(.press(button: 1), x: 60, y: y)))), []) }
        XCTAssertEqual(m.mode, .confirm(.promoteFull, typed: ""))
    }

    func testSGRMouseReportsAreReadWithTheirRange() {
        XCTAssertEqual(Mouse.parseSGR("<0;10;5", final: "M"), Mouse(.press(button: 1), x: 9, y: 4))
        XCTAssertEqual(Mouse.parseSGR("<64;1;1", final: "M"), Mouse(.wheelUp, x: 0, y: 0))
        XCTAssertEqual(Mouse.parseSGR("<65;3;3", final: "M"), Mouse(.wheelDown, x: 2, y: 2))
        XCTAssertEqual(Mouse.parseSGR("<16;3;3", final: "M"), Mouse(.press(button: 1), x: 2, y: 2), "control-click is a click")
        XCTAssertNil(Mouse.parseSGR("<0;10;5", final: "m"), "a release")
        XCTAssertNil(Mouse.parseSGR("<32;10;5", final: "M"), "a drag")
        for bad in ["<0;0;5", "<0;10", "<0;10;5;1", "<a;1;1", "<0;99999999;1", "<0;-1;1", "0;1;1", "<0;;1", "<٣;1;1"] {
            XCTAssertNil(Mouse.parseSGR(bad, final: "M"), bad)
        }
    }

    func testTheClockAndTheTeamLogShowTheChosenZone() {
        var m = model(step: 1)
        m.width = 120; m.height = 40
        let utc = Screen.render(m).lines[0]
        XCTAssertTrue(utc.contains("\(m.now.clockText) UTC"), utc)
        m.zone = ClockZone(name: "Asia/Kolkata") { _ in (19_800, "IST") }
        let local = Timestamp(seconds: m.now.seconds + 19_800).clockText
        let screen = Screen.render(m).lines
        XCTAssertTrue(screen[0].contains("\(local) IST"), screen[0])
        let first = Timestamp(seconds: m.deploy.log.last!.at.seconds + 19_800).clockText
        XCTAssertTrue(screen.joined().contains(first + " "), "the team log's times are in the zone too")
    }

    func testASearchMatchFollowsItsEntryWhenTheLogDropsItsOldest() {
        var m = model(step: 1)
        m.width = 120; m.height = 40
        for i in 0..<600 { _ = m.update(.engine(DeployEvent(seq: m.deploy.lastSeq + 1, ts: m.now, deploy: "d", payload: .chatMessage(from: "bo", text: "old \(i)")))) }
        _ = m.update(.engine(DeployEvent(seq: m.deploy.lastSeq + 1, ts: m.now, deploy: "d", payload: .chatMessage(from: "bo", text: "needle here"))))
        _ = m.update(.key(.char("/"))); type("needle", into: &m); _ = m.update(.key(.enter))
        let hit = m.searchHit!
        XCTAssertEqual(m.deploy.log[hit].text, "needle here")
        // Enough lines that the log trims its oldest (it keeps about 1,000).
        for i in 0..<(DeployState.logEntriesKept + 1) { _ = m.update(.engine(DeployEvent(seq: m.deploy.lastSeq + 1, ts: m.now, deploy: "d", payload: .chatMessage(from: "bo", text: "hay \(i)")))) }
        XCTAssertGreaterThan(m.deploy.logDropped ?? 0, 0, "the log trimmed")
        XCTAssertEqual(m.searchHit.map { m.deploy.log[$0].text }, "needle here", "the match is still the same entry (it was \(hit))")
        // More lines: the match itself leaves the kept log, and the footer says so.
        for i in 0..<(DeployState.logEntriesKept * 2) { _ = m.update(.engine(DeployEvent(seq: m.deploy.lastSeq + 1, ts: m.now, deploy: "d", payload: .chatMessage(from: "bo", text: "more \(i)")))) }
        XCTAssertNil(m.searchHit)
        XCTAssertEqual(m.message?.text, "the match left the kept team log: n finds the next")
    }

    func testSlashInThePipelinePaneSearchesTheStagesOutput() {
        var s = DeployState()
        let t = Timestamp(seconds: 1000)
        Reducer.reduce(&s, DeployEvent(seq: 0, ts: t, deploy: "d", payload: .deployStarted(service: "svc", from: VersionRef(name: "v1", commit: "a"), to: VersionRef(name: "v2", commit: "b"),
                                                                                      plan: RolloutPlan(steps: [RolloutStep(weight: 100, pause: .seconds(0))]), stages: ["build"], by: "x")))
        Reducer.reduce(&s, DeployEvent(seq: 1, ts: t, deploy: "d", payload: .stageStarted(stage: "build")))
        for i in 0..<60 { Reducer.reduce(&s, DeployEvent(seq: 2 + i, ts: t, deploy: "d", payload: .stageOutput(stage: "build", line: i % 20 == 5 ? "warning: deprecated \(i)" : "step \(i)"))) }
        var m = UIModel(deploy: s, now: t, user: "you", width: 100, height: 30)
        _ = m.update(.key(.char("1")))
        XCTAssertEqual(m.focus, .pipeline)
        _ = m.update(.key(.char("/")))
        XCTAssertTrue(Screen.render(m).lines.last!.hasPrefix(" / build output:"), "the field says which pane it searches")
        XCTAssertTrue(Screen.render(m).lines.joined().contains("build · running"), "the output stays in sight while the search is typed")
        type("WARNING", into: &m)
        _ = m.update(.key(.enter))
        // The newest match at the bottom of the output view, every match highlighted, counted.
        XCTAssertEqual(m.mode, .stageOutput(stage: 0, scroll: 60 - 1 - 45))
        XCTAssertEqual(m.outputHit, 45)
        var screen = Screen.render(m).lines.joined(separator: "\n")
        XCTAssertTrue(screen.contains("/WARNING 3 of 3 · n/N"), screen)
        XCTAssertTrue(screen.contains("warning: deprecated 45"), screen)
        _ = m.update(.key(.char("n")))
        XCTAssertEqual(m.outputHit, 25)
        screen = Screen.render(m).lines.joined(separator: "\n")
        XCTAssertTrue(screen.contains("/WARNING 2 of 3"), screen)
        _ = m.update(.key(.char("N")))
        XCTAssertEqual(m.outputHit, 45)
        let g = Screen.render(m)
        let row = g.lines.firstIndex { $0.contains("warning: deprecated 45") }!
        let col = g.lines[row].range(of: "warning")!.lowerBound.utf16Offset(in: g.lines[row])
        XCTAssertEqual(g[col, row].role, .selection, "a match is highlighted")
        // Esc ends the search, a second Esc closes the output.
        _ = m.update(.key(.escape))
        XCTAssertNil(m.searchTerm)
        XCTAssertEqual(m.mode, .stageOutput(stage: 0, scroll: 14))
        _ = m.update(.key(.escape))
        XCTAssertEqual(m.mode, .normal)
        // Elsewhere / still searches the team log.
        m.focus = .team
        _ = m.update(.key(.char("/")))
        XCTAssertFalse(m.searchInOutput)
    }

    func testAnOutputSearchNeverFreezesTheTeamLogsSearch() {
        var m = model(step: 1)
        m.width = 120; m.height = 40
        for i in 0..<5 { _ = m.update(.engine(DeployEvent(seq: m.deploy.lastSeq + 1, ts: m.now, deploy: "d", payload: .stageOutput(stage: "release", line: "out \(i)")))) }
        m.focus = .team
        _ = m.update(.key(.char("/"))); type("step", into: &m); _ = m.update(.key(.enter))
        XCTAssertNotNil(m.searchHit)
        // To the pipeline pane, / (an output search) and Esc: the team log's search is untouched.
        m.focus = .pipeline
        _ = m.update(.key(.char("/")))
        XCTAssertTrue(m.searchInOutput)
        _ = m.update(.key(.escape))
        XCTAssertEqual(m.searchTerm, "step")
        _ = m.update(.key(.escape)) // out of the output view
        _ = m.update(.key(.escape)) // ends the team search
        XCTAssertNil(m.searchTerm)
        // New lines show: the log is not cut at the old match.
        _ = m.update(.engine(DeployEvent(seq: m.deploy.lastSeq + 1, ts: m.now, deploy: "d", payload: .chatMessage(from: "bo", text: "newest line here"))))
        XCTAssertEqual(m.shownLog.last?.text, "newest line here")
        XCTAssertTrue(Screen.render(m).lines.joined().contains("newest line here"))
        // An output search and the team search keep their own terms.
        m.focus = .team
        _ = m.update(.key(.char("/"))); type("step", into: &m); _ = m.update(.key(.enter))
        m.focus = .pipeline
        _ = m.update(.key(.char("/"))); type("out", into: &m); _ = m.update(.key(.enter))
        XCTAssertEqual(m.outputTerm, "out")
        XCTAssertEqual(m.searchTerm, "step")
        XCTAssertFalse(m.matches(LogEntry(at: m.now, kind: .chat, who: "x", text: "out")), "the team log is not highlighted by the output's term")
    }
}
