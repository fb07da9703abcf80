import FridayCore

/// How the panes are arranged for a terminal size.
public enum LayoutKind: String, Sendable, Equatable, CaseIterable {
    /// 2x2 grid, from about 100 columns.
    case grid
    /// Four panes one above the other, from 60x20 (80x24 stacks).
    case stacked
    /// Too small for panes: a few summary lines.
    case compact

    public static func choose(width: Int, height: Int) -> LayoutKind {
        if width >= 100 && height >= 24 { return .grid }
        if width >= 60 && height >= 20 { return .stacked }
        return .compact
    }
}

/// Keeps the layout steady while the size flickers (tmux `window-size latest` resizes the
/// window to whichever client typed last): a new layout is taken only once its size has
/// held for `hold` seconds, or at once when pinned. Time is passed in, so tests decide it.
public struct LayoutHold: Sendable, Equatable {
    public var pinned: LayoutKind?
    public var hold: Double
    public private(set) var current: LayoutKind?
    private var candidate: (kind: LayoutKind, since: Double)?

    public init(pinned: LayoutKind? = nil, hold: Double = 1.0) { self.pinned = pinned; self.hold = hold }

    public static func == (a: LayoutHold, b: LayoutHold) -> Bool { a.pinned == b.pinned && a.current == b.current && a.hold == b.hold }

    /// The layout to draw at this size and time.
    public mutating func kind(width: Int, height: Int, at t: Double) -> LayoutKind {
        if let pinned { return pinned }
        let wanted = LayoutKind.choose(width: width, height: height)
        guard let shown = current else { current = wanted; return wanted }
        if wanted == shown { candidate = nil; return shown }
        if let c = candidate, c.kind == wanted {
            if t - c.since >= hold { current = wanted; candidate = nil; return wanted }
        } else {
            candidate = (wanted, t)
        }
        return shown
    }
}

/// Draws the whole screen from the UI model: header, four panes, footer, overlays.
public enum Screen {
    public static func render(_ m: UIModel) -> CellGrid {
        var grid = CellGrid(width: m.width, height: m.height)
        guard m.width > 0, m.height > 0 else { return grid }
        let kind = m.layout ?? LayoutKind.choose(width: m.width, height: m.height)
        if kind == .compact {
            CompactSummary.render(m, into: &grid)
            Overlays.render(m, into: &grid)
            if m.glyphs == .ascii { grid.foldToASCII() }
            return grid
        }
        HeaderBar.render(m, into: &grid, row: 0)
        FooterBar.render(m, into: &grid, row: m.height - 1)
        let rects = m.zoomed ? [(m.focus, Rect(x: 0, y: 1, width: m.width, height: m.height - 2))] : paneRects(kind: kind, width: m.width, height: m.height, model: m)
        for (pane, rect) in rects {
            let focused = m.focus == pane
            switch pane {
            case .pipeline: PipelinePane.render(m, into: &grid, rect: rect, focused: focused)
            case .traffic: TrafficPane.render(m, into: &grid, rect: rect, focused: focused)
            case .errors: ErrorsPane.render(m, into: &grid, rect: rect, focused: focused)
            case .team: TeamPane.render(m, into: &grid, rect: rect, focused: focused)
            }
        }
        Overlays.render(m, into: &grid)
        if m.glyphs == .ascii { grid.foldToASCII() }
        return grid
    }

    /// The rows (borders included) a pane needs for its must-haves now, and the fewest it
    /// can make do with: the running or failed stage and its last line; both versions' split,
    /// the steps and what happens next; both versions' errors and the judge's verdict.
    static func needs(_ m: UIModel) -> [PaneID: (want: Int, least: Int)] {
        let s = m.deploy
        let pipelineNow = s.phase == .idle || s.phase == .pipeline
        let stages = pipelineNow ? max(1, s.stages.count) + ((s.runningStage ?? s.failedStage) != nil ? 2 : 0) : 1
        let traffic = max(2, s.observed.count) + 1 + TrafficPane.statusLines(m).count + (s.drift != nil || !s.trafficSettled ? 1 : 0)
        let versions = max(1, Set(s.metrics.keys).union([s.from.name, s.to.name]).count)
        // A live verdict wraps to about five lines at 80 columns, with the gauge below it.
        let judging: Int = { if case .rolling = s.phase { return 6 }; return s.judgement != nil ? 2 : 0 }()
        // Before any traffic the errors pane has one line to say ("no traffic measured yet").
        let measured = !s.metrics.isEmpty
        let stageNow = s.runningStage ?? s.failedStage
        // Talking in the same screen is half of what friday is for: once the log has a line,
        // it keeps 3 of them from 24 rows and 2 below (a finished pipeline gives way first,
        // down to one line without a box).
        let teamLeast = s.log.isEmpty ? 3 : (m.height >= 24 ? 5 : 4)
        return [
            .pipeline: (stages + 2, pipelineNow ? (stageNow != nil ? 2 : 1) + 2 : 1),
            // (The blank line above the steps is drawn where rows are left, not asked for.)
            .traffic: (traffic + 2, max(2, s.observed.count) + 1 + TrafficPane.statusLines(m).count + 2),
            .errors: measured ? (1 + versions + judging + 2, 1 + versions + (judging > 0 ? 1 : 0) + 2) : (3, 3),
            .team: (max(6, teamLeast), teamLeast),
        ]
    }

    /// Where each pane goes (between the header row and the footer row). Stacked panes get
    /// the rows their must-haves need (`needs`), the team log the rest; short of rows, the
    /// team log gives first, then each pane down to the least it can show.
    public static func paneRects(kind: LayoutKind, width: Int, height: Int, model: UIModel? = nil) -> [(PaneID, Rect)] {
        if kind == .stacked, let m = model { return stacked(m, width: width, height: height) }
        let top = 1, avail = height - 2
        switch kind {
        case .grid:
            let leftW = width / 2, rightW = width - leftW
            // Once the pipeline is over, the top row is as tall as the traffic pane needs
            // (a finished pipeline is one line): the rows go to the verdict and the team log.
            var topH = max(8, avail * 9 / 20)
            if let m = model, !(m.deploy.phase == .idle || m.deploy.phase == .pipeline) {
                let need = needs(m)
                topH = max(8, min(topH, max(need[.traffic]!.want, 3)))
            }
            let bottomH = avail - topH
            return [
                (.pipeline, Rect(x: 0, y: top, width: leftW, height: topH)),
                (.traffic, Rect(x: leftW, y: top, width: rightW, height: topH)),
                (.errors, Rect(x: 0, y: top + topH, width: leftW, height: bottomH)),
                (.team, Rect(x: leftW, y: top + topH, width: rightW, height: bottomH)),
            ]
        case .stacked:
            let a = avail * 22 / 100, b = avail * 26 / 100, c = avail * 26 / 100
            let d = avail - a - b - c
            return [
                (.pipeline, Rect(x: 0, y: top, width: width, height: a)),
                (.traffic, Rect(x: 0, y: top + a, width: width, height: b)),
                (.errors, Rect(x: 0, y: top + a + b, width: width, height: c)),
                (.team, Rect(x: 0, y: top + a + b + c, width: width, height: d)),
            ]
        case .compact:
            return []
        }
    }

    static func stacked(_ m: UIModel, width: Int, height: Int) -> [(PaneID, Rect)] {
        let avail = height - 2
        let need = needs(m)
        let order: [PaneID] = [.pipeline, .traffic, .errors, .team]
        var h: [PaneID: Int] = [:]
        for p in order { h[p] = need[p]!.want }
        // Too many rows wanted: the team log gives first, then errors, then (during the
        // pipeline) traffic before the pipeline, (after it) the pipeline before traffic, each
        // down to its least.
        var over = order.reduce(0) { $0 + h[$1]! } - avail
        let pipelineNow = m.deploy.phase == .idle || m.deploy.phase == .pipeline
        for p in pipelineNow ? [PaneID.team, .errors, .traffic, .pipeline] : [PaneID.team, .pipeline, .errors, .traffic] where over > 0 {
            let give = min(over, h[p]! - need[p]!.least)
            h[p]! -= give; over -= give
        }
        // Still too many (a long hold reason at 60x20, a tiny terminal): the traffic pane's
        // wrapped status gives first (it ends in `…`; the verdict says the same), then the
        // errors pane, the pipeline, and the team log last, each to nothing.
        for p in [PaneID.traffic, .errors, .pipeline, .team] where over > 0 {
            let give = min(over, h[p]!)
            h[p]! -= give; over -= give
        }
        // Rows left over go to the team log.
        let used = order.reduce(0) { $0 + h[$1]! }
        if used < avail { h[.team]! += avail - used }
        var y = 1
        var out: [(PaneID, Rect)] = []
        for p in order {
            out.append((p, Rect(x: 0, y: y, width: width, height: h[p]!)))
            y += h[p]!
        }
        return out
    }

    /// The deploy's state in one word, and its role.
    static func stateLabel(_ s: DeployState) -> (String, Role) {
        switch s.phase {
        case .idle: return ("WAITING", .dim)
        case .pipeline: return (s.failedStage != nil ? "FAILED" : "PIPELINE", .accent)
        case .rolling:
            // A step that waits for a person is HELD (or PAUSED), as the board and status say:
            // the one moment that needs a human is not called ROLLING.
            if let h = s.hold { return (h.word, .warn) }
            return ("ROLLING", .good)
        case .finished(.promoted): return ("PROMOTED", .good)
        case .finished(.reverted): return ("REVERTED", .bad)
        case .finished(.failed): return ("FAILED", .bad)
        }
    }
}

/// The top line: service, versions, state, elapsed time, who is watching.
enum HeaderBar {
    static func render(_ m: UIModel, into g: inout CellGrid, row: Int) {
        let s = m.deploy
        g.fill(Rect(x: 0, y: row, width: g.width, height: 1), Cell(" ", .header))
        if s.phase == .idle {
            let x = g.put(" friday ", x: 0, y: row, role: .headerAccent)
            g.put("waiting for a deploy…", x: x, y: row, role: .header)
            return
        }
        // What the header must say (service, the new version, the state, the step and split,
        // the age) comes first; on a narrow screen the " friday " label goes, then the word
        // "step", then the old version, so the age is never cut ("2m40" for "2m40s").
        let (label, _) = Screen.stateLabel(s)
        // Who or what holds it, and the key that ends it (an operator's key: a viewer is told
        // who can end it instead); on a narrow screen the key alone.
        var holdLong = "", holdShort = ""
        if let h = s.hold {
            let key = Keymap.key(for: h.ends == .promote ? .promote : .togglePause)
            holdLong = " \(h.by)" + (m.role == .viewer ? " (an operator's \(h.ends.rawValue))" : " (\(key) \(h.ends == .promote ? "promotes" : "resumes"))")
            holdShort = m.role == .viewer ? "" : " (\(key))"
        }
        let change = s.change.flatMap { c in g.width >= 110 ? (" (\(c.range)\(c.big ? ", \(c.total) commits: big" : ""))", c.big) : nil }
        let age = s.startedAt.map { "  " + formatDuration((s.finishedAt ?? m.now) - $0) } ?? ""
        var step: (long: String, short: String)?
        if case .rolling = s.phase, let i = s.stepIndex { step = (" step \(i + 1)/\(s.plan.steps.count) \(s.canaryPercent)%", " \(i + 1)/\(s.plan.steps.count) \(s.canaryPercent)%") }
        func parts(brand: Bool, stepWord: Bool, from: Bool, hold: String) -> [(String, Role)] {
            var p: [(String, Role)] = [(brand ? " friday " : " ", .headerAccent)]
            // Not real traffic: said first, at every width (the source label is dropped before it).
            if m.isSimulated { p.append((brand && g.width >= 160 ? "SIMULATED " : "SIM ", .headerAccent)) }
            // Several candidates: every one (those taken out too: the header names the deploy).
            let to = s.candidateNames(all: true)
            p.append((from ? "\(s.service) \(s.from.name) \(m.glyphs.arrow) \(to)" : "\(s.service) \(to)", .header))
            if let change { p.append((change.0, change.1 ? .headerAccent : .header)) }
            p.append(("  \(label)\(hold)", .headerAccent))
            if let step { p.append((stepWord ? step.long : step.short, .header)) }
            p.append((age, .header))
            return p
        }
        let choices = [parts(brand: true, stepWord: true, from: true, hold: holdLong), parts(brand: false, stepWord: true, from: true, hold: holdLong),
                       parts(brand: false, stepWord: false, from: true, hold: holdLong), parts(brand: false, stepWord: false, from: false, hold: holdLong),
                       parts(brand: false, stepWord: false, from: false, hold: holdShort), parts(brand: false, stepWord: false, from: false, hold: "")]
        let chosen = choices.first { $0.reduce(0) { $0 + CharWidth.of($1.0) } <= g.width } ?? choices[5]
        var x = 0
        for (text, role) in chosen { x += g.put(text, x: x, y: row, role: role) }
        var names = s.watchers.map(\.who).filter { $0 != m.user }
        names.append(m.user == "you" ? "you" : m.user + " (you)")
        let tmux = m.tmuxClients.isEmpty ? "" : " · tmux: " + m.tmuxClients.joined(separator: ", ")
        let watching = "watching: " + names.joined(separator: ", ")
        // The longest that fits: everything, then without the source, then without tmux, then a count.
        // The wall clock, with its zone (the team log's times are in the same zone).
        // (A simulation's clock is its own, not the wall's: "sim", no zone.)
        let clock = "  \(m.isSimulated ? "sim " : "")\(m.zone.clock(m.now)) \(m.zone.label(m.now)) "
        let candidates = [
            watching + tmux + (m.sourceLabel.isEmpty ? "" : "  \(m.sourceLabel)") + clock,
            watching + tmux + clock,
            watching + clock,
            // (The clock before the names: the team log's times are read against it.)
            "\(names.count + m.tmuxClients.count) watching" + clock,
            watching + " ",
            "\(names.count + m.tmuxClients.count) watching ",
        ]
        for right in candidates {
            let rw = CharWidth.of(right)
            if x + 2 + rw <= g.width {
                g.put(right, x: g.width - rw, y: row, role: .header)
                break
            }
        }
    }
}

/// The bottom line: the keys that apply now, or a message, or the chat input.
enum FooterBar {
    static func render(_ m: UIModel, into g: inout CellGrid, row: Int) {
        guard row > 0 else { return }
        g.fill(Rect(x: 0, y: row, width: g.width, height: 1))
        if case let .palette(text) = m.mode {
            // What Tab offers, else what the typed command does, else how to use the field.
            let (name, _) = Palette.split(text)
            let known = Palette.commands.first { $0.name == name }
            let hint = !m.paletteChoices.isEmpty ? m.paletteChoices.joined(separator: " ")
                : known.map { "\($0.name)\($0.argument.map { " " + $0 } ?? ""): \($0.help)" } ?? "Tab completes · ↑/↓ history · Enter runs · Esc"
            input(" :", text, hint: String(hint.prefix(max(0, g.width / 2))), hintRole: .dim, m, into: &g, row: row)
            return
        }
        if case let .search(text) = m.mode {
            // Which pane it searches, in words: the team log, or the shown stage's output.
            let stage = m.searchInOutput && m.deploy.stages.indices.contains(m.outputStage) ? m.deploy.stages[m.outputStage].name : nil
            input(stage.map { " / \($0) output: " } ?? " / team log: ", text, hint: "Enter find · Esc cancel", hintRole: .dim, m, into: &g, row: row)
            return
        }
        if case let .chat(text) = m.mode {
            // The count shows near the limit; the hint gives way to the text on a narrow screen.
            let n = text.count
            let count = n >= LineEdit.chatLimit - 50 ? "\(n)/\(LineEdit.chatLimit) " : ""
            var hint = count + "Enter send · Esc keeps the draft"
            if g.width - CharWidth.of(" say: ") - CharWidth.of(hint) - 2 < 20 { hint = count }
            input(" say: ", text, hint: hint, hintRole: n >= LineEdit.chatLimit ? .bad : .dim, m, into: &g, row: row)
            return
        }
        if let bar = m.replayBar {
            var x = 1
            if let msg = m.message { x += g.put(msg.text, x: x, y: row, role: msg.isError ? .bad : .good, limit: g.width - 2) + 2 }
            g.put(bar, x: x, y: row, role: .accent, limit: max(0, g.width - x))
            return
        }
        var x = 1
        if let msg = m.message {
            x += g.put(msg.text, x: x, y: row, role: msg.isError ? .bad : .good, limit: g.width - 2) + 2
        }
        // A dialog, the help or a stage's output: its own keys (a dashboard key would type text).
        if let keys = modeKeys(m) {
            for (key, what) in keys {
                let w = CharWidth.of(key) + 1 + CharWidth.of(what) + 2
                if x + w > g.width { break }
                x += g.put(key, x: x, y: row, role: .keyName)
                x += g.put(" \(what)  ", x: x, y: row, role: .keyHint)
            }
            return
        }
        let viewer = m.role == .viewer
        if viewer, m.message == nil { x += g.put("viewer:", x: x, y: row, role: .dim, limit: g.width - 2) + 1 }
        // What applies to this person comes first: an operator's keys that act now, then say,
        // help and quit; a viewer's say, search, help and detach, then (greyed, where there is
        // room) the acting keys an operator would have.
        var items: [(label: String, short: String, greyed: Bool)] = []
        let shown: [UIAction] = [.promote, .promoteFull, .togglePause, .revert, .retry, .cancelStage, .say, .search, .help, .quit, .zoom]
        for b in Keymap.bindings where shown.contains(b.action) {
            if b.action == .zoom, !m.zoomed { continue }
            if b.action == .search, !viewer { continue }
            let greyed = viewer && b.action.isActing
            guard greyed || m.refusal(b.action) == nil else { continue }
            var short = b.short
            if b.action == .togglePause, m.deploy.paused != nil { short = "resume" }
            if b.action == .quit, m.detaches { short = "detach" }
            if b.action == .zoom { short = "all panes" }
            items.append((b.label, short, greyed))
        }
        if viewer { items = items.filter { !$0.greyed } + items.filter(\.greyed) }
        for item in items {
            let w = CharWidth.of(item.label) + 1 + CharWidth.of(item.short) + 2
            if x + w > g.width { break }
            x += g.put(item.label, x: x, y: row, role: item.greyed ? .dim : .keyName)
            x += g.put(" \(item.short)  ", x: x, y: row, role: item.greyed ? .dim : .keyHint)
        }
    }

    /// The keys of a dialog, the help or a stage's output, where one is open.
    static func modeKeys(_ m: UIModel) -> [(String, String)]? {
        switch m.mode {
        case .normal, .chat, .search, .palette: return nil
        case .help: return [("↑/↓", "scroll"), ("?/Esc", "close help")]
        case .confirm, .revertConfirm: return [("type", "the word in the dialog"), ("Enter", "confirm"), ("Esc", "cancel (nothing happens)")]
        case .revertReason: return [("type", "the reason"), ("Enter", "next"), ("Esc", "cancel (nothing happens)")]
        case .stageOutput: return [("↑/↓", "scroll"), ("←/→", "another stage"), ("/", "search"), ("Esc", "back")]
        }
    }

    /// A one-line text field in the footer: its label, the text around the cursor, the hint at the right.
    static func input(_ label: String, _ text: String, hint: String, hintRole: Role, _ m: UIModel, into g: inout CellGrid, row: Int) {
        let x = g.put(label, x: 0, y: row, role: .accent)
        let room = max(1, g.width - x - CharWidth.of(hint) - 2)
        let (before, after) = field(text, cursor: m.cursor, width: room - 1)
        var cx = x + g.put(before, x: x, y: row, role: .input)
        g.put(m.glyphs.cursor, x: cx, y: row, role: .accent)
        cx += 1
        g.put(after, x: cx, y: row, role: .input, limit: max(0, x + room - cx))
        if !hint.isEmpty { g.put(hint, x: g.width - CharWidth.of(hint) - 1, y: row, role: hintRole) }
    }

    /// A text field's text around its cursor, fitted to `width` columns: what is before the
    /// cursor (its end kept) and what is after (its start kept).
    static func field(_ text: String, cursor: Int, width: Int) -> (String, String) {
        let chars = Array(text)
        let at = min(max(0, cursor), chars.count)
        let before = tail(String(chars[..<at]), max(0, width - min(8, chars.count - at)))
        return (before, String(chars[at...]))
    }

    static func tail(_ s: String, _ width: Int) -> String {
        var out = Substring(s)
        while CharWidth.of(String(out)) > max(0, width) { out = out.dropFirst() }
        return String(out)
    }
}
