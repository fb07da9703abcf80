import FridayTesting
import Foundation
import XCTest

/// `friday demo` in tmux on a private socket, pressed and read like a person would.
final class DashboardInTmuxTests: XCTestCase {
    let bin = fridayBinary()

    override func setUpWithError() throws {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: bin), "build friday first (swift build): \(bin)")
    }

    func start(_ args: String = "--speed 20", width: Int = 120, height: Int = 40, env: [String: String] = [:]) throws -> TmuxSession {
        // A shell stays after friday exits, so the terminal's state afterwards can be read
        // (tmux hides the cursor of a dead pane).
        try TmuxSession(width: width, height: height, command: "\(bin) demo --user ana \(args); echo \"exit=$?\"; sleep 300", env: env)
    }

    /// Waits for friday to exit; returns its status as the shell saw it.
    func exitStatus(_ t: TmuxSession) -> String? {
        guard t.wait(for: "exit=", seconds: 10) else { return nil }
        return t.screen().first { $0.hasPrefix("exit=") }.map { String($0.dropFirst(5)) }
    }

    /// friday's pid: the child of the pane's shell.
    func fridayPID(_ t: TmuxSession) -> pid_t {
        let shell = t.format("#{pane_pid}")
        let children = (try? String(contentsOfFile: "/proc/\(shell)/task/\(shell)/children", encoding: .utf8)) ?? ""
        return pid_t(children.split(separator: " ").first ?? "") ?? 0
    }

    func testATerminalThatCannotPlaceTheCursorIsRefusedWithWhatToDo() throws {
        let t = try TmuxSession(width: 80, height: 24, command: "TERM=dumb \(bin) demo; echo \"exit=$?\"; sleep 300")
        XCTAssertEqual(exitStatus(t), "1", t.text)
        XCTAssertTrue(t.text.contains("TERM=dumb cannot place the cursor"), t.text)
        XCTAssertTrue(t.text.contains("--headless"), t.text)
    }

    func testTheUsersConfigSetsKeysNameAndThemeAndABadLineOnlyWarns() throws {
        let home = NSTemporaryDirectory() + "friday-config-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: home + "/friday", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: home) }
        try """
        name = "ana-cfg"
        theme = "high-contrast"
        layout = "tiled"
        time_zone = "Asia/Kolkata"
        [keys]
        promote = "w"
        """.write(toFile: home + "/friday/config.toml", atomically: true, encoding: .utf8)
        let t = try TmuxSession(width: 120, height: 40, command: "\(bin) demo --speed 20 2>\(home)/err.txt; echo \"exit=$?\"; sleep 300", env: ["XDG_CONFIG_HOME": home])
        XCTAssertTrue(t.wait(for: "ROLLING step 1/5", seconds: 30), t.text)
        XCTAssertTrue(t.text.contains("ana-cfg (you)"), t.text)
        XCTAssertTrue(t.screen()[0].hasSuffix(" IST") || t.screen()[0].hasSuffix(" +0530"), "the clock in the config's zone: \(t.text)")
        XCTAssertTrue(t.text.contains("w promote"), "the footer is built from the keys in use: \(t.text)")
        t.press("w")
        // (The judge has not passed step 1 yet: the promote asks for its word.)
        XCTAssertTrue(t.wait(for: "Promote before the judge has passed step 1?"), t.text)
        t.type("promote")
        t.press("Enter")
        XCTAssertTrue(t.wait(for: "step 2/5"), t.text)
        t.press("q")
        XCTAssertEqual(exitStatus(t), "0", t.text)
        let err = try String(contentsOfFile: home + "/err.txt", encoding: .utf8)
        XCTAssertTrue(err.contains("friday: warning: \(home)/friday/config.toml:3: layout must be grid, stacked or compact"), err)
    }

    func testColoursFollowTheTerminalsRealCapability() throws {
        // The same theme on a direct-colour terminal (24-bit), on 256, and on 8 colours: the
        // header's gold (#c49500) exact, its nearest of the 256, then the theme's own 8-colour
        // choice (white: Solarized's yellow on base02 is below 4.5:1).
        for (term, expected) in [("xterm-direct", "38;2;196;149;0"), ("xterm-256color", "38;5;172"), ("xterm", "37m")] {
            let t = try TmuxSession(width: 100, height: 30, command: "TERM=\(term) \(bin) demo --theme solarized-dark; echo \"exit=$?\"; sleep 300")
            XCTAssertTrue(t.wait(for: "Pipeline"), "\(term): \(t.text)")
            let header = t.screen(colours: true)[0]
            XCTAssertTrue(header.contains(expected), "\(term): \(header.debugDescription)")
            t.press("q")
            XCTAssertEqual(exitStatus(t), "0", t.text)
        }
    }

    func testATerminalWithoutAnAlternateScreenIsClearedOnExit() throws {
        // vt100 has no smcup: before, the last frame stayed on screen under the shell prompt.
        let t = try TmuxSession(width: 100, height: 30, command: "TERM=vt100 \(bin) demo --speed 20; echo \"exit=$?\"; sleep 300")
        XCTAssertTrue(t.wait(for: "Pipeline"), t.text)
        t.press("q")
        XCTAssertEqual(exitStatus(t), "0", t.text)
        XCTAssertFalse(t.text.contains("Pipeline") || t.text.contains("Traffic"), "the last frame stayed: \(t.text)")
    }

    func testAReplayInTmuxActsOnNothingAndTypingThereNeverQuitsIt() throws {
        let dir = NSTemporaryDirectory() + "friday-replay-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../examples/simulated/friday.toml").standardized.path
        let run = try runProcess(bin, ["run", example, "--headless", "--log", dir + "/d.jsonl", "--duration", "120"])
        XCTAssertEqual(run.status, 0, run.err)
        let t = try TmuxSession(width: 120, height: 40, command: "\(bin) replay \(dir)/d.jsonl; echo \"exit=$?\"; sleep 300")
        XCTAssertTrue(t.wait(for: "REPLAY"), t.text)
        // "quick" typed at a replay: m is not a text field here, q quits only as itself.
        t.press("P")
        XCTAssertTrue(t.wait(for: "a replay acts on nothing"), t.text)
        XCTAssertFalse(t.text.contains("Promote v2.4.0 to 100%?"), t.text)
        t.press("m")
        t.type("uick")
        XCTAssertTrue(t.wait(for: "REPLAY"), t.text)
        // The search field and the palette take every key: "quick" typed there is text,
        // not the player's q (before, a field's letters also reached the player).
        t.press("/")
        t.type("quick")
        t.press("Enter")
        // (The team log, or in the pipeline pane once stages have output, the stage's output.)
        XCTAssertTrue(t.wait(for: "no \"quick\" in "), t.text)
        t.press("Escape")
        usleep(200_000)
        t.press("Escape")
        usleep(200_000)
        t.press(":")
        t.type("say quick")
        t.press("Enter")
        XCTAssertTrue(t.wait(for: "a replay acts on nothing: say is a live command"), t.text)
        t.press("?")
        XCTAssertTrue(t.wait(for: "Replay keys"), t.text)
        t.press("Escape")
        usleep(200_000) // a lone Esc, not the start of a sequence with the q
        t.press("q")
        XCTAssertEqual(exitStatus(t), "0", t.text)
        XCTAssertFalse(t.text.contains("uick"), "typing reached the shell: \(t.text)")
    }

    func testAFailedVerdictRingsTheBellAndTmuxMarksTheWindow() throws {
        let t = try start("--scenario bad-canary --speed 20")
        XCTAssertTrue(t.wait(for: "1 Pipeline"), t.text)
        // Someone is looking at another window: friday's is marked when the judge fails.
        TmuxSession.tmux(t.socket, ["new-window", "sleep 300"])
        XCTAssertEqual(t.format("#{window_bell_flag}"), "0")
        let deadline = Date().addingTimeInterval(30)
        var flag = "0"
        while flag != "1", Date() < deadline {
            flag = TmuxSession.tmux(t.socket, ["display-message", "-p", "-t", ":0", "#{window_bell_flag}"]).1.trimmingCharacters(in: .whitespacesAndNewlines)
            usleep(200_000)
        }
        XCTAssertEqual(flag, "1", "no bell on the failed verdict")
        TmuxSession.tmux(t.socket, ["select-window", "-t", ":0"])
        XCTAssertTrue(t.wait(for: "REVERTED"), t.text)
    }

    func testTheWatchingListShowsThePeopleAttachedToTheTmuxSession() throws {
        let t = try start("--speed 2", width: 200, height: 40)
        XCTAssertTrue(t.wait(for: "1 Pipeline"), t.text)
        XCTAssertFalse(t.text.contains("tmux:"), t.text)
        // Someone attaches to friday's tmux session from a terminal of their own.
        let other = try TmuxSession(width: 190, height: 35, command: "env -u TMUX tmux -L \(t.socket) attach")
        let me = String(cString: getpwuid(getuid()).pointee.pw_name)
        XCTAssertTrue(t.wait(for: "tmux: \(me) 190x", seconds: 10), t.text)
        // They leave: the list follows.
        _ = other
        TmuxSession.tmux(t.socket, ["detach-client", "-s", t.format("#{session_name}")])
        XCTAssertTrue(t.wait(seconds: 10) { !$0.joined().contains("tmux: ") }, t.text)
    }

    func testPanesAppearKeysSteerTheRolloutAndResizeRelaysOut() throws {
        let t = try start()
        XCTAssertTrue(t.wait(for: "1 Pipeline"), t.text)
        for title in ["2 Traffic", "3 Errors & latency", "4 Team"] { XCTAssertTrue(t.text.contains(title), t.text) }
        XCTAssertTrue(t.wait(for: "ROLLING step 1/5 1%"), t.text)
        // p over a step the judge has not passed asks first, saying what the judge says now.
        t.press("p")
        XCTAssertTrue(t.wait(for: "Promote before the judge has passed step 1?"), t.text)
        XCTAssertTrue(t.text.contains("the judge: inconclusive"), t.text)
        t.type("promote")
        t.press("Enter")
        XCTAssertTrue(t.wait(for: "ROLLING step 2/5 5%"), t.text)
        XCTAssertTrue(t.wait(for: "ana promoted (1% → 5%) before the"), t.text)

        t.press("r")
        XCTAssertTrue(t.wait(for: "Revert v2.4.0?"), t.text)
        XCTAssertTrue(t.text.contains("v2.4.0 5% → 0% at once"), t.text)
        t.type("error budget burning")
        t.press("Enter")
        XCTAssertTrue(t.wait(for: "Type revert or v2.4.0, then Enter:"), t.text)
        t.type("revert")
        t.press("Enter")
        XCTAssertTrue(t.wait(for: "REVERTED"), t.text)
        XCTAssertTrue(t.wait { lines in
            lines.contains { $0.range(of: #"│ v2\.4\.0 ░+ +0% │"#, options: .regularExpression) != nil }
        }, t.text)
        XCTAssertTrue(t.text.contains("ana reverted: error budget burning"), t.text)

        // A refused key says why in the footer.
        t.press("p")
        XCTAssertTrue(t.wait(for: "can't promote: the deploy was reverted"), t.text)

        t.resize(width: 80, height: 24)
        XCTAssertTrue(t.wait { lines in
            lines.count == 24 && lines[1].contains("1 Pipeline") && lines.contains { $0.contains("2 Traffic") } && lines.allSatisfy { $0.count <= 80 }
        }, t.text)
        t.resize(width: 40, height: 10)
        XCTAssertTrue(t.wait { $0.count == 10 && $0.contains("REVERTED") && !$0.contains { $0.contains("┌") } }, t.text)
        t.resize(width: 120, height: 40)
        XCTAssertTrue(t.wait { $0.count == 40 && $0[1].contains("1 Pipeline") && $0[1].hasSuffix("┐") && $0[1].contains("┐┌ 2 Traffic") }, t.text)

        t.press("?")
        XCTAssertTrue(t.wait(for: "┌ Keys"), t.text)
        t.press("Escape")
        XCTAssertTrue(t.wait { !$0.joined().contains("┌ Keys") }, t.text)

        t.press("q")
        XCTAssertEqual(exitStatus(t), "0", t.text)
        XCTAssertEqual(t.format("#{alternate_on}"), "0")
        XCTAssertEqual(t.format("#{cursor_flag}"), "1")
    }

    func testThePaletteSearchAndMouseInTmux() throws {
        let t = try start("--speed 20")
        XCTAssertTrue(t.wait(for: "ROLLING step 1/5"), t.text)
        XCTAssertEqual(t.format("#{mouse_any_flag}"), "1", "friday asked for mouse reports")
        // The palette: Tab completes, Enter runs the same promote as p.
        t.press(":")
        t.type("prom")
        t.press("Tab")
        XCTAssertTrue(t.wait { $0.last?.hasPrefix(" :promote ▏") ?? false }, t.text)
        t.press("Enter")
        // (Step 1 not yet passed by the judge: the same confirm as p.)
        XCTAssertTrue(t.wait(for: "Promote before the judge has passed step 1?"), t.text)
        t.type("promote")
        t.press("Enter")
        XCTAssertTrue(t.wait(for: "step 2/5"), t.text)
        // theme: the colours change on the spot (the header's escape sequences differ).
        let before = t.screen(colours: true)[0]
        t.press(":")
        t.type("theme light")
        t.press("Enter")
        XCTAssertTrue(t.wait(for: "theme light (this screen only"), t.text)
        XCTAssertTrue(t.wait(seconds: 5) { _ in t.screen(colours: true)[0] != before }, "the header kept its colours")
        // say from the palette, then / finds that line; the pane's title counts the matches.
        t.press(":")
        t.type("say zebra-42 looks fine")
        t.press("Enter")
        XCTAssertTrue(t.wait(for: "zebra-42 looks fine"), t.text)
        // (the palette's search is the team log's, whichever pane has the focus.)
        t.press(":")
        t.type("search zebra-42")
        t.press("Enter")
        XCTAssertTrue(t.wait { $0.joined().contains("/zebra-42 1 of 1") }, t.text)
        t.press("Escape")
        usleep(200_000)
        // The mouse: a click on the team pane focuses it (Enter opens nothing there), a click
        // on the pipeline pane focuses that (Enter opens the stage's output), the wheel scrolls it.
        let lines = t.screen()
        let teamRow = try XCTUnwrap(lines.firstIndex { $0.contains("4 Team") }, t.text)
        t.click(x: 100, y: teamRow + 2)
        usleep(200_000)
        t.press("Enter")
        usleep(300_000)
        XCTAssertFalse(t.text.contains("· succeeded"), "Enter opened a stage's output from the team pane: \(t.text)")
        t.click(x: 10, y: 3)
        usleep(200_000)
        t.press("Enter")
        XCTAssertTrue(t.wait(for: "the whole output"), t.text)
        t.press("Escape")
        usleep(200_000) // a lone Esc, not Alt-q
        t.press("q")
        XCTAssertEqual(exitStatus(t), "0", t.text)
        XCTAssertEqual(t.format("#{mouse_any_flag}"), "0", "mouse reports are turned off again")

        // --no-mouse: nothing asked of the terminal, and a report that arrives anyway is ignored.
        let n = try start("--speed 20 --no-mouse")
        XCTAssertTrue(n.wait(for: "ROLLING step 1/5"), n.text)
        XCTAssertEqual(n.format("#{mouse_any_flag}"), "0")
        n.click(x: 100, y: teamRow + 2)
        n.press("q")
        XCTAssertEqual(exitStatus(n), "0", n.text)
    }

    func testAMouseReportNeverTypesKeysWhateverTheTerminal() throws {
        // xterm's terminfo names ESC [ < as the mouse key and linux's ESC [ M: before, ncurses
        // took that part and the rest of a click arrived as keys ("0;5;3M": m opened the chat
        // field; a legacy report's button byte, a space, paused the deploy).
        for term in ["xterm-256color", "xterm", "linux", "tmux-256color"] {
            let t = try start("--speed 20", env: ["TERM": term])
            XCTAssertTrue(t.wait(for: "ROLLING step 1/5"), "\(term): \(t.text)")
            for (x, y) in [(100, 30), (79, 5), (80, 6), (10, 3)] {
                t.click(x: x, y: y)
                // A legacy X10 report too (a terminal without SGR mouse): ESC [ M, button, column, row.
                TmuxSession.tmux(t.socket, ["send-keys", "-H", "1b", "5b", "4d", "20", String(format: "%02x", 33 + x), String(format: "%02x", 33 + y)])
            }
            usleep(400_000)
            let screen = t.text
            XCTAssertFalse(screen.contains(" say: "), "\(term): a click opened the chat field: \(screen)")
            XCTAssertFalse(screen.contains("PAUSED"), "\(term): a click paused the deploy: \(screen)")
            XCTAssertFalse(screen.contains("exit="), "\(term): a click quit: \(screen)")
            // The last click was on the pipeline pane: Enter opens its stage's output.
            t.press("Enter")
            XCTAssertTrue(t.wait(for: "the whole output"), "\(term): \(t.text)")
            t.press("Escape")
            usleep(200_000)
            t.press("q")
            XCTAssertEqual(exitStatus(t), "0", t.text)
        }
    }

    func testSignalsLeaveTheTerminalRestored() throws {
        for (sig, name) in [(SIGTERM, "TERM"), (SIGINT, "INT"), (SIGHUP, "HUP"), (SIGQUIT, "QUIT"), (SIGUSR1, "USR1"), (SIGUSR2, "USR2"),
                            (SIGALRM, "ALRM"), (SIGPIPE, "PIPE")] {
            let t = try start()
            XCTAssertTrue(t.wait(for: "4 Team"), t.text)
            XCTAssertEqual(t.format("#{alternate_on}"), "1")
            let pid = fridayPID(t)
            XCTAssertGreaterThan(pid, 0)
            kill(pid, sig)
            if sig == SIGPIPE {
                // Ignored: the dashboard goes on, then quits with q.
                usleep(300_000)
                XCTAssertEqual(t.format("#{alternate_on}"), "1", "SIGPIPE is ignored")
                t.press("q")
                XCTAssertEqual(exitStatus(t), "0", "after SIGPIPE\n\(t.text)")
            } else {
                XCTAssertEqual(exitStatus(t), "\(128 + sig)", "SIG\(name)\n\(t.text)")
                XCTAssertFalse(t.text.contains("Backtrace") || t.text.contains("Crash"), "SIG\(name): no crash banner\n\(t.text)")
            }
            XCTAssertEqual(t.format("#{alternate_on}"), "0", "SIG\(name)")
            XCTAssertEqual(t.format("#{cursor_flag}"), "1", "SIG\(name)")
        }
    }

    /// A shared pane: pastes and escape sequences in typed text never act as keys, and
    /// another person's typing never confirms a dialog.
    func testPastesAndEscapesInTextNeverActAsKeys() throws {
        let t = try start("--speed 1")
        XCTAssertTrue(t.wait(for: "ROLLING step 1/5 1%", seconds: 60), t.text)
        // A two-line paste into the chat field: one line of text, the "p" of "ship" promotes nothing.
        t.press("m")
        XCTAssertTrue(t.wait(for: "say: "), t.text)
        t.paste("checked the dashboards\nall good, ship it")
        t.press("Enter")
        XCTAssertTrue(t.wait(for: "ana: checked the dashboards all good, ship it"), t.text)
        XCTAssertTrue(t.text.contains("ROLLING step 1/5 1%"), "a paste promoted the deploy\n\(t.text)")
        // An OSC sequence typed inside a chat line neither closes the field nor acts.
        t.press("m")
        XCTAssertTrue(t.wait(for: "say: "), t.text)
        t.type("title \u{1b}]0;pwned\u{07} then p and q")
        t.press("Enter")
        XCTAssertTrue(t.wait(for: "ana: title  then p and q"), t.text)
        XCTAssertTrue(t.text.contains("ROLLING step 1/5 1%"), t.text)
        // A paste outside a text field does nothing but say so.
        t.paste("pPq")
        XCTAssertTrue(t.wait(for: "a paste does nothing here"), t.text)
        // "my take: yes, wait" typed into an open promote-to-100% dialog confirms nothing.
        t.press("P")
        XCTAssertTrue(t.wait(for: "Promote v2.4.0 to 100%?"), t.text)
        t.type("my take: yes, wait")
        t.press("Enter")
        t.press("y")
        t.press("Enter")
        XCTAssertTrue(t.wait(for: "type promote or v2.4.0, then Enter"), t.text)
        t.press("Escape")
        XCTAssertTrue(t.wait(for: "promote-full cancelled"), t.text)
        XCTAssertTrue(t.text.contains("ROLLING step 1/5 1%"), t.text)
        // An Esc followed at once by a resize is still a lone Esc (the resize is not taken for a sequence).
        t.press("P")
        XCTAssertTrue(t.wait(for: "Promote v2.4.0 to 100%?"), t.text)
        t.press("Escape")
        t.resize(width: 100, height: 30)
        XCTAssertTrue(t.wait(for: "promote-full cancelled"), t.text)
        XCTAssertFalse(t.text.contains("Promote v2.4.0 to 100%?"), t.text)
        t.press("q")
        XCTAssertEqual(exitStatus(t), "0")
    }

    func testChatHoldAndPauseFromTheKeyboard() throws {
        let t = try start("--scenario bad-canary --speed 20")
        XCTAssertTrue(t.wait(for: "REVERTED", seconds: 30), t.text)
        XCTAssertTrue(t.wait(for: "by judge"), t.text)
        t.press("m")
        XCTAssertTrue(t.wait(for: "say: "), t.text)
        t.type("looking at it 部署 ✅ ⭐ ⏳")
        t.press("Enter")
        XCTAssertTrue(t.wait(for: "ana: looking at it 部署 ✅ ⭐ ⏳"), t.text)
        // The emoji are two columns in the terminal's wcwidth, and friday measures them so:
        // the pane's right border stays at the edge of the line.
        let row = try XCTUnwrap(t.screen().first { $0.contains("✅") })
        XCTAssertTrue(row.trimmingCharacters(in: .whitespaces).hasSuffix("│"), "the border moved: \(row)")
        t.press("R")
        XCTAssertTrue(t.wait(for: "Retry v2.4.0?"), t.text)
        XCTAssertTrue(t.text.contains("back to step 1 of 5 (v2.4.0 at 1%); the judge starts over"), t.text)
        t.type("retry")
        t.press("Enter")
        XCTAssertTrue(t.wait(for: "ROLLING step 1/5 1%"), t.text)
        t.press("Space")
        XCTAssertTrue(t.wait(for: "PAUSED by ana (space resumes) step 1/5"), t.text)
        t.press("Space")
        XCTAssertTrue(t.wait(for: "ROLLING step 1/5"), t.text)
        t.press("p")
        XCTAssertTrue(t.wait(for: "Promote before the judge has passed step 1?"), t.text)
        t.type("v2.4.0")
        t.press("Enter")
        XCTAssertTrue(t.wait(for: "step 2/5"), t.text)
        t.press("Space")
        XCTAssertTrue(t.wait(for: "PAUSED by ana (space resumes) step 2/5"), t.text)
        t.press("q")
        XCTAssertEqual(exitStatus(t), "0")
    }

    func testNoColorAsciiAndAPlainLocale() throws {
        let coloured = try start()
        XCTAssertTrue(coloured.wait(for: "4 Team"))
        let colourCodes = coloured.screen(colours: true).joined(separator: "\n")
        XCTAssertTrue(colourCodes.contains("38;5;"), "the default theme uses colours: \(colourCodes.debugDescription.prefix(600))")

        let plain = try start(env: ["NO_COLOR": "1"])
        XCTAssertTrue(plain.wait(for: "4 Team"))
        let codes = plain.screen(colours: true).joined()
        XCTAssertFalse(codes.contains("38;5;") || codes.contains("[3") && codes.range(of: #"\[3[0-7]m"#, options: .regularExpression) != nil, "NO_COLOR: no colours")

        let c = try start(env: ["LANG": "C", "LC_ALL": "C"])
        XCTAssertTrue(c.wait(for: "1 Pipeline"), "a non-UTF-8 locale falls back to C.UTF-8: \(c.text)")

        let a = try start("--ascii --speed 20")
        XCTAssertTrue(a.wait(for: "+ 1 Pipeline ---"), a.text)
        XCTAssertFalse(a.text.contains("│"), a.text)
    }
}
