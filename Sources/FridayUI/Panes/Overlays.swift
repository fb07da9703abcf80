import FridayCore

/// Dialogs drawn over the dashboard: help, confirm, revert reason.
public enum Overlays {
    public static func render(_ m: UIModel, into g: inout CellGrid) {
        switch m.mode {
        case .normal, .chat: return
        case .help: help(m, into: &g)
        case let .stageOutput(i, scroll): stageOutput(m, stage: i, scroll: scroll, into: &g)
        case let .confirm(action, typed):
            let title: String
            switch action {
            case .promoteFull: title = "Promote \(m.deploy.to.name) to 100%?"
            case .promote: title = "Promote past \(m.deploy.paused?.by ?? "a person")'s hold?"
            case .retry: title = "Retry \(m.deploy.to.name)?"
            case .cancel: title = "Cancel stage \(m.deploy.runningStage?.name ?? "")?"
            default: title = "\(action.rawValue)?"
            }
            var body: [(String, Role)] = [(RolloutLogic.consequence(action, in: m.deploy), .text), ("opened by \(m.user)", .dim), ("", .text),
                                          ("Type \(m.confirmWords(action).joined(separator: " or ")), then Enter:", .dim),
                                          ("> " + withCursor(typed, m), .input)]
            if let msg = m.message, msg.isError { body.append((msg.text, .bad)) }
            body.append(("", .text))
            body.append(("Esc cancels (the default)", .dim))
            dialog(m, into: &g, title: title, body: body)
        case let .revertReason(text):
            var body: [(String, Role)] = [(RolloutLogic.consequence(.revert, in: m.deploy), .text), ("opened by \(m.user)", .dim), ("", .text), ("Reason for the team log:", .dim)]
            body.append(("> " + withCursor(text, m), .input))
            if let msg = m.message, msg.isError { body.append((msg.text, .bad)) }
            body.append(("", .text))
            body.append(("Enter next      Esc cancel", .dim))
            dialog(m, into: &g, title: "Revert \(m.deploy.to.name)?", body: body)
        case let .revertConfirm(reason, typed):
            var body: [(String, Role)] = [(RolloutLogic.consequence(.revert, in: m.deploy), .text), ("opened by \(m.user) · reason: \(reason)", .dim), ("", .text),
                                          ("Type \(m.confirmWords(.revert).joined(separator: " or ")), then Enter:", .dim), ("> " + withCursor(typed, m), .input)]
            if let msg = m.message, msg.isError { body.append((msg.text, .bad)) }
            body.append(("", .text))
            body.append(("Esc cancels (the default)", .dim))
            dialog(m, into: &g, title: "Revert \(m.deploy.to.name)?", body: body)
        }
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
        var body: [(String, Role)] = st.output[start..<end].map { ($0, .text) }
        if body.isEmpty { body.append(("(no output yet)", .dim)) }
        let shown = st.output.isEmpty ? "" : "lines \(start + 1)–\(end) of the last \(st.output.count)"
        body.append(("", .text))
        body.append(("\(shown)  ↑/↓ PgUp/PgDn Home/End scroll · ←/→ stage \(i + 1)/\(m.deploy.stages.count) · Esc closes", .dim))
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

    static func help(_ m: UIModel, into g: inout CellGrid) {
        var body: [(String, Role)] = []
        if m.replay {
            for (k, h) in replayKeys { body.append((TextLayout.left(k, 15) + h, .text)) }
            body.append(("", .text))
            body.append(("A replay only looks: no key promotes, pauses, reverts or says anything.", .dim))
            body.append(("Esc or ? closes this help", .dim))
            dialog(m, into: &g, title: "Replay keys", body: body, wide: true)
            return
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
        body.append(("Esc or ? closes this help", .dim))
        dialog(m, into: &g, title: "Keys", body: body, wide: true)
    }

    static func dialog(_ m: UIModel, into g: inout CellGrid, title: String, body: [(String, Role)], wide: Bool = false) {
        let maxW = min(g.width - 2, wide ? 84 : 66)
        guard maxW >= 12, g.height >= 5 else {
            // Too small for a box: the first lines, plainly.
            g.put(TextLayout.fit(title, g.width), x: 0, y: 0, role: .dialogBorder)
            for (i, (t, r)) in body.filter({ !$0.0.isEmpty }).prefix(max(0, g.height - 1)).enumerated() {
                g.fill(Rect(x: 0, y: i + 1, width: g.width, height: 1))
                g.put(TextLayout.fit(t, g.width), x: 0, y: i + 1, role: r)
            }
            return
        }
        let innerW = maxW - 4
        var lines: [(String, Role)] = []
        for (t, r) in body {
            if t.isEmpty { lines.append(("", r)); continue }
            for l in TextLayout.wrap(t, innerW) { lines.append((l, r)) }
        }
        let h = min(g.height - 2, lines.count + 2)
        let w = maxW
        let rect = Rect(x: (g.width - w) / 2, y: max(0, (g.height - h) / 2), width: w, height: h)
        g.fill(rect, Cell(" ", .dialog))
        g.box(rect, title: title, glyphs: m.glyphs, role: .dialogBorder, titleRole: .dialogBorder)
        for (i, (t, r)) in lines.prefix(h - 2).enumerated() {
            g.put(t, x: rect.x + 2, y: rect.y + 1 + i, role: r, limit: innerW)
        }
    }
}
