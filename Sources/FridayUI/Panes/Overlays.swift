import FridayCore

/// Dialogs drawn over the dashboard: help, confirm, revert reason.
public enum Overlays {
    public static func render(_ m: UIModel, into g: inout CellGrid) {
        switch m.mode {
        case .search where m.searchInOutput:
            // Typing a search in a stage's output: the output stays in sight behind the field.
            stageOutput(m, stage: m.outputStage, scroll: 0, into: &g)
        case .normal, .chat, .search, .palette: return
        case .help: help(m, into: &g)
        case let .stageOutput(i, scroll): stageOutput(m, stage: i, scroll: scroll, into: &g)
        case let .confirm(action, typed):
            let title: String
            switch action {
            case .promoteFull: title = m.deploy.isMultiway ? "Promote \(m.deploy.candidateNames()) to the last step?" : "Promote \(m.deploy.to.name) to 100%?"
            case .promote:
                let s = m.deploy
                if let by = s.paused?.by, by != "judge" { title = by == "engine" ? "Promote past the engine's hold on the router?" : "Promote past \(by)'s hold?" }
                else if s.judgement.map({ $0.step == s.stepIndex && $0.verdict == .fail }) == true { title = "Promote over the judge's FAIL verdict?" }
                else { title = "Promote before the judge has passed step \((s.stepIndex ?? 0) + 1)?" }
            case .retry: title = "Retry \(m.deploy.candidateNames(all: true))?"
            case .cancel: title = "Cancel stage \(m.deploy.runningStage?.name ?? "")?"
            default: title = "\(action.rawValue)?"
            }
            var body: [(String, Role)] = [(RolloutLogic.consequence(action, in: m.deploy), .text)]
            // Promoting a step the judge has not passed: what the judge says now.
            if action == .promote, !m.deploy.judgePassedStep, let live = m.judge.evaluate(m.deploy, now: m.now) {
                body.append(("the judge: \(live.verdict.rawValue): \(live.summary)", live.verdict == .fail ? .bad : .dim))
            }
            body += [("opened by \(m.user)", .dim), ("", .text), ("Type \(m.confirmWords(action).joined(separator: " or ")), then Enter:", .dim)]
            dialog(m, into: &g, title: title, body: body, pinned: field(typed, m, hint: "Esc cancels (the default)"))
        case let .revertReason(text):
            let body: [(String, Role)] = [(RolloutLogic.consequence(.revert, in: m.deploy), .text), ("opened by \(m.user)", .dim), ("", .text), ("Reason for the team log:", .dim)]
            dialog(m, into: &g, title: "Revert \(m.deploy.candidateNames())?", body: body, pinned: field(text, m, hint: "Enter next      Esc cancel"))
        case let .revertConfirm(reason, typed, candidate?):
            // One candidate of several: what happens to it and to the split, the same weights the engine will set.
            let body: [(String, Role)] = [(RolloutLogic.takeOutConsequence(candidate, in: m.deploy), .text), ("opened by \(m.user) · reason: \(reason)", .dim), ("", .text),
                                          ("Type revert or \(candidate), then Enter:", .dim)]
            dialog(m, into: &g, title: "Take \(candidate) out of rotation?", body: body, pinned: field(typed, m, hint: "Esc cancels (the default)"))
        case let .revertConfirm(reason, typed, nil):
            let body: [(String, Role)] = [(RolloutLogic.consequence(.revert, in: m.deploy), .text), ("opened by \(m.user) · reason: \(reason)", .dim), ("", .text),
                                          ("Type \(m.confirmWords(.revert).joined(separator: " or ")), then Enter:", .dim)]
            dialog(m, into: &g, title: "Revert \(m.deploy.candidateNames())?", body: body, pinned: field(typed, m, hint: "Esc cancels (the default)"))
        }
    }

    /// A dialog's text field (kept in sight at any size), the error about it, and its hint.
    static func field(_ text: String, _ m: UIModel, hint: String) -> [(String, Role)] {
        var out: [(String, Role)] = [("> " + withCursor(text, m), .input)]
        if let msg = m.message, msg.isError { out.append((msg.text, .bad)) }
        out.append((hint, .dim))
        return out
    }

    /// A dialog's field with its cursor where it is.
    static func withCursor(_ text: String, _ m: UIModel) -> String {
        let chars = Array(text)
        let at = min(max(0, m.cursor), chars.count)
        return String(chars[..<at]) + m.glyphs.cursor + String(chars[at...])
    }

    /// A stage's output (the last lines the state keeps), scrollable; ←/→ another stage.
    static func stageOutput(_ m: UIModel, stage i: Int, scroll: Int, into g: inout CellGrid) {
        guard i < m.deploy.stages.count else { return }
        let st = m.deploy.stages[i]
        let rows = max(1, g.height - 8)
        let end = max(0, st.output.count - scroll)
        let start = max(0, end - rows)
        var body: [(String, Role)] = st.output[start..<end].map { ($0, m.outputMatches($0) ? .selection : .text) }
        if body.isEmpty { body.append(("(no output yet)", .dim)) }
        let shown = st.output.isEmpty ? "" : "lines \(start + 1)–\(end) of the last \(st.output.count)"
        body.append(("", .text))
        if let term = m.outputTerm {
            let all = m.outputMatchLines(stage: i)
            let at = m.outputHit.flatMap { all.firstIndex(of: $0) }.map { "\($0 + 1) of \(all.count)" } ?? "none"
            body.append(("/\(term) \(at) · n/N older/newer", .accent))
        }
        body.append(("\(shown)  ↑/↓ PgUp/PgDn Home/End scroll · / search · ←/→ stage \(i + 1)/\(m.deploy.stages.count) · Esc closes", .dim))
        body.append(("the whole output: the .log file named after the deploy and the stage, beside the deploy's log", .dim))
        dialog(m, into: &g, title: "\(st.name) · \(st.status.rawValue)" + (st.seconds.map { " · \(formatDuration($0))" } ?? ""), body: body, wide: true)
    }

    /// The replay's own keys (the player's), and the dashboard's that only look.
    static let replayKeys: [(String, String)] = [
        ("space", "play / pause"), ("←/→ h/l", "one event back / on"), ("[ ] PgUp/PgDn", "a minute back / on"),
        ("+/-", "faster / slower"), ("g/G Home/End", "the first / the last event"), ("tab", "move focus to the next pane"),
        ("↑/↓ j/k", "scroll the focused pane"), ("Enter", "in the pipeline pane: a stage's whole output"), ("?", "show or hide this help"),
        ("q", "quit the replay"),
    ]

    /// The help's lines (the replay's own keys in a replay).
    static func helpBody(_ m: UIModel) -> [(String, Role)] {
        var body: [(String, Role)] = []
        if m.replay {
            for (k, h) in replayKeys { body.append((TextLayout.left(k, 15) + h, .text)) }
            body.append(("", .text))
            body.append(("A replay only looks: no key promotes, pauses, reverts or says anything.", .dim))
            return body
        }
        for b in Keymap.bindings {
            let line = TextLayout.left(b.label, 7) + b.help
            if let why = m.refusal(b.action) {
                body.append((line + " (not now: \(why))", .dim))
            } else {
                body.append((line, .text))
            }
        }
        body.append(("", .text))
        body.append(("Commands (\(Keymap.key(for: .palette)), Tab completes, ↑/↓ history; the same refusals and confirms as the keys):", .dim))
        for c in Palette.commands {
            body.append((TextLayout.left(c.name + (c.argument.map { " " + $0 } ?? ""), 18) + c.help, .text))
        }
        body.append(("", .text))
        body.append(("Mouse: a click focuses a pane, the wheel scrolls it; it never acts (--no-mouse leaves it to the terminal).", .dim))
        return body
    }

    /// How far the help can scroll at this size: its wrapped rows past the box's room.
    public static func helpScrollLimit(_ m: UIModel) -> Int {
        let innerW = min(m.width - 2, 84) - 4
        guard innerW > 0 else { return 0 }
        let rows = helpBody(m).reduce(0) { $0 + ($1.0.isEmpty ? 1 : TextLayout.wrap($1.0, innerW).count) }
        return max(0, rows - max(0, m.height - 2 - 2 - 1))
    }

    static func help(_ m: UIModel, into g: inout CellGrid) {
        dialog(m, into: &g, title: m.replay ? "Replay keys" : "Keys", body: helpBody(m), wide: true, scroll: m.helpScroll,
               pinned: [(m.replay ? "↑/↓ scroll · Esc or ? closes" : "↑/↓ PgUp/PgDn scroll · Esc or ? closes", .dim)])
    }

    /// A box in the middle of the screen: `body` wrapped (scrolled by `scroll` when it does
    /// not fit, the box's corner saying how much more there is), then `pinned` lines that
    /// are always in sight (a text field, its error, how to close), at every size.
    static func dialog(_ m: UIModel, into g: inout CellGrid, title: String, body: [(String, Role)], wide: Bool = false,
                       scroll: Int = 0, pinned: [(String, Role)] = []) {
        let maxW = min(g.width - 2, wide ? 84 : 66)
        guard maxW >= 12, g.height >= 5 else {
            // Too small for a box: the pinned lines first (what is typed), then the title and the body, plainly.
            let plain = pinned.filter { !$0.0.isEmpty } + [(title, .dialogBorder)] + body.filter { !$0.0.isEmpty }
            for (i, (t, r)) in plain.prefix(max(0, g.height)).enumerated() {
                g.fill(Rect(x: 0, y: i, width: g.width, height: 1))
                g.put(TextLayout.fit(t, g.width), x: 0, y: i, role: r)
            }
            return
        }
        let innerW = maxW - 4
        func wrapped(_ list: [(String, Role)]) -> [(String, Role)] {
            var lines: [(String, Role)] = []
            for (t, r) in list {
                if t.isEmpty { lines.append(("", r)); continue }
                for l in TextLayout.wrap(t, innerW) { lines.append((l, r)) }
            }
            return lines
        }
        let lines = wrapped(body)
        var pin = wrapped(pinned)
        let h = min(g.height - 2, lines.count + pin.count + 2)
        let room = h - 2
        if pin.count > room, let first = pinned.first {
            // Short of rows: the field's last row (where the cursor is) first, then its error
            // and hint, then the field's earlier rows.
            let field = wrapped([first]), rest = wrapped(Array(pinned.dropFirst()))
            var keep = Array(field.suffix(1)) + rest
            keep = Array(keep.prefix(room))
            let more = max(0, room - keep.count)
            pin = Array(field.dropLast().suffix(more)) + keep
        }
        let bodyRoom = max(0, room - pin.count)
        let top = min(max(0, scroll), max(0, lines.count - bodyRoom))
        let below = max(0, lines.count - top - bodyRoom)
        let more = top > 0 || below > 0 ? (below > 0 ? "\(m.glyphs.arrow == "->" ? "v" : "↓") \(below) more" : "top \(top)") : nil
        let w = maxW
        let rect = Rect(x: (g.width - w) / 2, y: max(0, (g.height - h) / 2), width: w, height: h)
        g.fill(rect, Cell(" ", .dialog))
        g.box(rect, title: title, glyphs: m.glyphs, role: .dialogBorder, titleRole: .dialogBorder, right: more)
        var y = rect.y + 1
        for (t, r) in lines.dropFirst(top).prefix(bodyRoom) {
            g.put(t, x: rect.x + 2, y: y, role: r, limit: innerW)
            y += 1
        }
        for (t, r) in pin {
            g.put(t, x: rect.x + 2, y: y, role: r, limit: innerW)
            y += 1
        }
    }
}
