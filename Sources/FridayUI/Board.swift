import FridayCore

/// One deploy on the board: its state as its engine last sent it, and where it is.
public struct BoardEntry: Sendable, Equatable {
    /// Where the engine answers (a socket's path): the board's key for it.
    public var address: String
    public var state: DeployState
    /// The engine's clock now (simulated engines run faster than the wall).
    public var now: Timestamp
    /// Why the engine no longer answers, once it stopped; the row stays, dimmed, at the bottom.
    public var gone: String?
    /// The machine whose engine runs it, for a deploy only the shared store shows (`--store`);
    /// nil for an engine of this machine.
    public var remote: String?
    public init(address: String, state: DeployState, now: Timestamp, gone: String? = nil, remote: String? = nil) {
        self.address = address; self.state = state; self.now = now; self.gone = gone; self.remote = remote
    }

    /// What a person should look at first: the board's sort order, most urgent on top.
    public enum Need: Int, Sendable, Comparable, CaseIterable {
        case failed, held, judging, pipeline, done, gone
        public static func < (a: Need, b: Need) -> Bool { a.rawValue < b.rawValue }
        public var label: String {
            switch self {
            case .failed: return "FAILED"
            case .held: return "HELD"
            case .judging: return "JUDGING"
            case .pipeline: return "PIPELINE"
            case .done: return "DONE"
            case .gone: return "ENDED"
            }
        }
    }

    /// The need's word; an ended engine's row says how its deploy ended.
    public var needLabel: String {
        guard gone != nil else { return need.label }
        switch state.phase {
        case .finished(.promoted): return "DONE"
        case .finished(.reverted): return "REVERTED"
        case .finished(.failed): return "FAILED"
        default: return "ENDED"
        }
    }

    public var need: Need {
        if gone != nil { return .gone }
        let s = state
        switch s.phase {
        case let .finished(o): return o == .promoted ? .done : .failed
        case .rolling:
            // A router or metrics fault, or a failed verdict not yet acted on, needs a person as much as a failure.
            if s.routerProblem != nil || s.judgement?.verdict == .fail { return .failed }
            if s.paused != nil || s.currentStep?.pause == .untilPromoted { return .held }
            return .judging
        case .pipeline:
            return s.stages.contains { $0.status == .failed } ? .failed : .pipeline
        case .idle: return .pipeline
        }
    }
}

/// `friday board`: every deploy the engines on this machine serve, sorted by what needs a
/// person first; ↑/↓ select, Enter attaches, an acting key attaches and opens that key's
/// own confirm in the deploy's dashboard (the same dialog as there), q quits.
public struct BoardModel: Sendable {
    public enum Effect: Sendable, Equatable {
        /// Attach to the deploy at `address`, then do `action` there as its key would (nil: just attach).
        case attach(address: String, action: UIAction?)
        case quit
    }

    public var entries: [String: BoardEntry] = [:]
    /// The deploy the person chose (by address, so a re-sort keeps it selected).
    private var chosen: String?
    /// The selected deploy: the one the person chose, else the most urgent (the top row), so
    /// the board opens on what needs a person, whatever order the engines answered in.
    public var selected: String? {
        get { chosen.flatMap { entries[$0] == nil ? nil : $0 } ?? rows.first?.address }
        set { chosen = newValue }
    }
    public var width: Int
    public var height: Int
    public var glyphs: Glyphs
    /// A line for the footer (why a key did nothing), cleared by the next key.
    public var message: String?
    /// Where the board looks for engines, for the empty board's hint.
    public var folder: String

    public init(width: Int, height: Int, glyphs: Glyphs, folder: String) {
        self.width = width; self.height = height; self.glyphs = glyphs; self.folder = folder
    }

    /// The rows in board order: by need, then the newest start first, then by service.
    public var rows: [BoardEntry] {
        entries.values.sorted { a, b in
            if a.need != b.need { return a.need < b.need }
            let ta = a.state.startedAt?.seconds ?? 0, tb = b.state.startedAt?.seconds ?? 0
            if ta != tb { return ta > tb }
            if a.state.service != b.state.service { return a.state.service < b.state.service }
            return a.address < b.address
        }
    }

    public mutating func upsert(_ e: BoardEntry) { entries[e.address] = e }

    public mutating func remove(_ address: String) {
        entries[address] = nil
        if chosen == address { chosen = nil }
    }

    private var selectedIndex: Int? { let r = rows; return r.firstIndex { $0.address == selected } ?? (r.isEmpty ? nil : 0) }

    public mutating func key(_ k: Key) -> Effect? {
        message = nil
        let r = rows
        switch k {
        case .up, .char("k"):
            if let i = selectedIndex, i > 0 { selected = r[i - 1].address }
        case .down, .char("j"):
            if let i = selectedIndex, i + 1 < r.count { selected = r[i + 1].address }
        case .home, .char("g"): selected = r.first?.address
        case .end, .char("G"): selected = r.last?.address
        case .enter:
            guard let i = selectedIndex else { message = "no deploy to attach to"; return nil }
            if let why = BoardModel.unattachable(r[i]) { message = why; return nil }
            return .attach(address: r[i].address, action: nil)
        case .paste:
            // A paste is text, never keys: nothing on the board takes text.
            message = "a paste does nothing on the board"
        case .mouse(let m):
            if case .press = m.kind, m.y >= 2, m.y - 2 < r.count { selected = r[m.y - 2].address }
        default:
            // An acting key (as the person's keymap has it) attaches and opens that action's own
            // dialog in the deploy's dashboard: the same confirm, the same refusals.
            guard let b = Keymap.binding(for: k) else { break }
            if b.action == .quit { return .quit }
            guard b.action.isActing else { break }
            guard let i = selectedIndex else { message = "no deploy selected"; return nil }
            if let why = BoardModel.unattachable(r[i]) { message = why; return nil }
            return .attach(address: r[i].address, action: b.action)
        }
        return nil
    }

    /// Why a row cannot be attached to from here, if it cannot.
    static func unattachable(_ e: BoardEntry) -> String? {
        if let why = e.gone { return "\(e.state.service): \(why)" }
        if let host = e.remote {
            return "\(e.state.service) runs on \(host): attach there (friday attach \(e.state.deployID)), or over TCP (friday attach --tcp HOST:PORT)"
        }
        return nil
    }

    // MARK: drawing

    struct Column { let title: String; let width: Int }

    /// The split as read back from the router; "—" before the first read-back (never the wanted weights).
    static func split(_ s: DeployState) -> String {
        guard !s.observed.isEmpty else { return "—" }
        return s.observed.map { "\($0.percent)" }.joined(separator: "/")
    }

    static func versions(_ s: DeployState, glyphs: Glyphs) -> String {
        s.from.name.isEmpty ? s.deployID : "\(s.from.name) \(glyphs.arrow) \(s.candidateNames(all: true))"
    }

    static func step(_ s: DeployState) -> String {
        guard let i = s.stepIndex, !s.plan.steps.isEmpty else { return s.phase == .pipeline ? "build" : "—" }
        return "\(i + 1)/\(s.plan.steps.count)"
    }

    static func verdict(_ e: BoardEntry) -> String {
        // An ended engine: why, and how its deploy ended (when it did), with its verdict.
        if let gone = e.gone { return gone + (e.state.isFinished ? " · " + verdictText(e) : "") }
        // Several candidates: one taken out alone is news on every row of its deploy.
        let out = e.state.candidatesOut ?? []
        return (out.isEmpty ? "" : "\(out.joined(separator: ", ")) out · ") + verdictText(e)
    }

    static func verdictText(_ e: BoardEntry) -> String {
        let s = e.state
        // A row from the store whose engine has said nothing for 5 minutes may have no engine left.
        if e.remote != nil, !s.isFinished, let last = s.lastEventAt, e.now.seconds - last.seconds > 300 {
            return "no news for \(age(seconds: e.now.seconds - last.seconds)) (is its engine running?)"
        }
        if let p = s.routerProblem { return "router: " + p }
        func said(_ j: DeployState.Judgement) -> String { j.verdict.rawValue + (j.summary.isEmpty ? "" : " · " + j.summary) }
        if let o = s.outcome { return o.rawValue + (s.judgement.map { " · " + ($0.summary.isEmpty ? $0.verdict.rawValue : $0.summary) } ?? "") }
        if let h = s.hold { return "\(h.word.lowercased()) \(h.by)" + (s.paused.map { $0.reason.isEmpty ? "" : ": \($0.reason)" } ?? "") + " · \(h.ends.rawValue) ends it" }
        if let j = s.judgement { return said(j) }
        if let st = s.stages.first(where: { $0.status == .running }) { return st.name }
        return s.phase == .rolling ? "judging" : ""
    }

    static func age(_ e: BoardEntry) -> String {
        guard let start = e.state.startedAt else { return "" }
        let end = e.state.finishedAt ?? e.now
        return age(seconds: end.seconds - start.seconds)
    }

    static func age(seconds: Double) -> String {
        let secs = SafeNumber.int(max(0, seconds))
        if secs < 60 { return "\(secs)s" }
        if secs < 3600 { return "\(secs / 60)m\(secs % 60 < 10 ? "0" : "")\(secs % 60)s" }
        if secs < 86400 { return "\(secs / 3600)h\(secs % 3600 / 60 < 10 ? "0" : "")\(secs % 3600 / 60)m" }
        return "\(secs / 86400)d"
    }

    static func role(_ n: BoardEntry.Need) -> Role {
        switch n {
        case .failed: return .bad
        case .held: return .warn
        case .judging, .pipeline: return .accent
        case .done: return .good
        case .gone: return .dim
        }
    }

    public func render() -> CellGrid {
        var g = CellGrid(width: width, height: height)
        guard width >= 20, height >= 4 else {
            g.put("friday board: too small", x: 0, y: 0, role: .dim)
            return g
        }
        let r = rows
        let waiting = r.filter { [.failed, .held].contains($0.need) }.count
        g.fill(Rect(x: 0, y: 0, width: width, height: 1), Cell(" ", .header))
        let title = " friday board · \(r.count) deploy\(r.count == 1 ? "" : "s")" + (waiting > 0 ? " · \(waiting) need\(waiting == 1 ? "s" : "") you" : "")
        g.put(title, x: 0, y: 0, role: .header)
        // Fixed columns, then the verdict takes what is left. The id comes second: every verb
        // takes it, and two rows of one service and versions differ only there. Versions and
        // split grow for a deploy of several candidates (v2.3.0 → v2.4.0-a, v2.4.0-b;
        // 34/33/33), within limits. Below 120 columns the board is compact: versions,
        // watching and age give way to the verdict.
        let compact = width < 120
        let idWidth = min(compact ? 16 : 24, max(4, r.map { CharWidth.of($0.state.deployID) + 1 }.max() ?? 0))
        let versionsWidth = min(44, max(20, r.map { CharWidth.of(BoardModel.versions($0.state, glyphs: glyphs)) + 1 }.max() ?? 0))
        let splitWidth = min(16, max(8, r.map { CharWidth.of(BoardModel.split($0.state)) + 1 }.max() ?? 0))
        let cols: [Column] = compact
            ? [Column(title: "NEED", width: 9), Column(title: "ID", width: idWidth), Column(title: "SERVICE", width: 12),
               Column(title: "STEP", width: 6), Column(title: "SPLIT", width: splitWidth)]
            : [Column(title: "NEED", width: 9), Column(title: "ID", width: idWidth), Column(title: "SERVICE", width: 14), Column(title: "VERSIONS", width: versionsWidth),
               Column(title: "STEP", width: 6), Column(title: "SPLIT", width: splitWidth), Column(title: "WATCHING", width: 14), Column(title: "AGE", width: 7)]
        let verdictAfter = compact ? 4 : 5
        let verdictWidth = max(8, width - cols.reduce(0) { $0 + $1.width } - 1)
        func cells(_ values: [String], verdict: String, y: Int, role: Role, needRole: Role) {
            var x = 1
            for (i, c) in cols.enumerated() {
                g.put(values[i], x: x, y: y, role: i == 0 ? needRole : role, limit: c.width - 1)
                x += c.width
                if i == verdictAfter { g.put(verdict, x: x, y: y, role: role, limit: min(verdictWidth - 1, width - x)); x += verdictWidth }
                if x >= width { break }
            }
        }
        func values(_ e: BoardEntry) -> [String] {
            let s = e.state
            let watching = e.gone != nil ? "" : s.watchers.map(\.who).joined(separator: ",")
            let service = (s.service.isEmpty ? s.deployID : s.service) + (e.remote.map { "@" + $0 } ?? "")
            return compact ? [e.needLabel, s.deployID, service, BoardModel.step(s), BoardModel.split(s)]
                : [e.needLabel, s.deployID, service, BoardModel.versions(s, glyphs: glyphs), BoardModel.step(s), BoardModel.split(s),
                   watching.isEmpty ? "—" : watching, BoardModel.age(e)]
        }
        cells(cols.map(\.title), verdict: "VERDICT", y: 1, role: .dim, needRole: .dim)
        let listHeight = height - 3
        let sel = selectedIndex ?? 0
        let first = max(0, min(sel - listHeight + 1, r.count - listHeight))
        let shownSelected = selected
        for (n, e) in r.dropFirst(max(0, first)).prefix(listHeight).enumerated() {
            let y = 2 + n
            let isSelected = e.address == shownSelected
            if isSelected { g.fill(Rect(x: 0, y: y, width: width, height: 1), Cell(" ", .selection)) }
            let role: Role = isSelected ? .selection : (e.need == .gone ? .dim : .text)
            cells(values(e), verdict: BoardModel.verdict(e), y: y, role: role, needRole: isSelected ? .selection : BoardModel.role(e.need))
            if isSelected { g.put(glyphs.current, x: 0, y: y, role: .selection) }
        }
        if r.isEmpty {
            g.put("No deploy is being served on this machine.", x: 1, y: 3, role: .text)
            g.put("The board looks for engines in \(folder) (friday run or friday serve start one).", x: 1, y: 4, role: .dim)
        }
        let footer = message ?? (compact
            ? "↑↓ · Enter attach · \(Keymap.key(for: .promote))/\(Keymap.key(for: .togglePause))/\(Keymap.key(for: .revert))/\(Keymap.key(for: .retry)) act · \(Keymap.key(for: .quit)) quit"
            : "↑↓ select · Enter attach (Esc back) · \(Keymap.key(for: .promote)) promote · \(Keymap.key(for: .togglePause)) pause · \(Keymap.key(for: .revert)) revert · \(Keymap.key(for: .retry)) retry · \(Keymap.key(for: .quit)) quit")
        g.put(" " + footer, x: 0, y: height - 1, role: message == nil ? .keyHint : .bad)
        if glyphs == .ascii { g.foldToASCII() }
        return g
    }

    /// The rows as plain text for scripts and `friday status`: every column whole (nothing is
    /// cut in a list), padded to the longest value.
    public static func plainRows(_ rows: [BoardEntry], glyphs: Glyphs) -> [String] {
        let header = ["NEED", "ID", "SERVICE", "VERSIONS", "STEP", "SPLIT", "WATCHING", "AGE", "VERDICT"]
        let table = [header] + rows.map { e -> [String] in
            let s = e.state
            let watching = e.gone != nil ? "" : s.watchers.map(\.who).joined(separator: ",")
            return [e.needLabel, s.deployID, (s.service.isEmpty ? s.deployID : s.service) + (e.remote.map { "@" + $0 } ?? ""), versions(s, glyphs: glyphs),
                    step(s), split(s), watching.isEmpty ? "—" : watching, age(e), verdict(e)].map { TerminalText.neutralise($0) }
        }
        let widths = header.indices.map { i in table.map { CharWidth.of($0[i]) }.max() ?? 0 }
        return table.map { row in
            var line = ""
            for (i, v) in row.enumerated() { line += i == row.count - 1 ? v : TextLayout.left(v, widths[i]) + "  " }
            while line.last == " " { line.removeLast() }
            return line
        }
    }

    /// One deploy as a JSON object (`friday board --json`): the same fields as a row, typed.
    public static func json(_ e: BoardEntry) -> JSONValue {
        let s = e.state
        let ageSeconds = s.startedAt.map { max(0, ((s.finishedAt ?? e.now).seconds - $0.seconds).rounded()) }
        return .object([
            ("id", .string(s.deployID)), ("service", .string(s.service)), ("need", .string(e.needLabel)),
            ("from", .string(s.from.name)), ("to", .array(s.candidates.map { .string($0.name) })),
            ("step", s.stepIndex.map { .number(Double($0 + 1)) } ?? .null), ("steps", .number(Double(s.plan.steps.count))),
            ("split", .array(s.observed.map { .object([("version", .string($0.version)), ("percent", .number(Double($0.percent)))]) })),
            ("watching", .array(e.gone != nil ? [] : s.watchers.map { .string($0.who) })),
            ("age_seconds", ageSeconds.map { .number($0) } ?? .null),
            ("verdict", .string(verdict(e))),
            ("ended", e.gone.map { .string($0) } ?? .null),
            ("host", e.remote.map { .string($0) } ?? .null),
            ("address", .string(e.address)),
        ])
    }
}
