import FridayCore

/// The team log: chat, commands, refusals and system lines, timestamped, newest last.
public enum TeamPane {
    public static func render(_ m: UIModel, into g: inout CellGrid, rect: Rect, focused: Bool) {
        // A search shows its match as the newest line, matches highlighted.
        let log = m.shownLog
        let asked = m.searchHit != nil ? 0 : (m.scroll[.team] ?? 0)
        let inner = rect.inner
        let width = inner.width - 2, height = inner.height
        // Lay out from the newest entry backwards until the pane (plus the scroll) is full.
        var rows: [[(String, Role)]] = []
        let need = height + asked
        // In a short pane the system's long lines (a step's verdict, in full in the errors pane)
        // take two rows and end in `…`, so what people say stays in sight; zoomed, all of it.
        let cap = height < 10 && !m.zoomed ? 2 : Int.max
        if width > 0 {
            for e in log.reversed() {
                var lines = layout(e, width: width, glyphs: m.glyphs, zone: m.zone, cap: e.kind == .chat ? Int.max : cap)
                if m.matches(e) { lines = lines.map { $0.map { ($0.0, $0.1 == .dim ? .dim : Role.selection) } } }
                rows.insert(contentsOf: lines, at: 0)
                if rows.count >= need { break }
            }
        }
        // The title says how far back the pane really is (never further than there is to see).
        let back = min(asked, max(0, rows.count - height))
        var right: String? = back > 0 ? "\(back) back · \(Keymap.key(for: .live)): live" : nil
        if let term = m.searchTerm {
            let all = m.searchMatches
            let at = m.searchHit.flatMap { all.firstIndex(of: $0) }.map { "\($0 + 1) of \(all.count)" } ?? "none"
            right = "/\(term) \(at) · n/N · Esc"
        }
        if let f = m.filterTerm, right == nil { right = "filter \"\(f)\": \(m.deploy.log.filter(m.passesFilter).count) of \(m.deploy.log.count) · :filter" }
        let r = PaneFrame.draw(m, into: &g, rect: rect, pane: .team, focused: focused, right: right)
        guard !r.isEmpty else { return }
        if log.isEmpty, m.filterTerm != nil { g.put("no line has \"\(m.filterTerm ?? "")\": :filter shows all", x: r.x, y: r.y, role: .dim, limit: r.width); return }
        if m.deploy.log.isEmpty { g.put("nothing yet: \(Keymap.key(for: .say)) to say something", x: r.x, y: r.y, role: .dim, limit: r.width); return }
        let end = max(0, rows.count - back)
        var visible = rows[max(0, end - r.height)..<end]
        // Fewer rows than the newest entry needs: its start (time, who, what), not the tail of its wrap.
        if back == 0, let last = log.last {
            let lastRows = layout(last, width: width, glyphs: m.glyphs, zone: m.zone, cap: last.kind == .chat ? Int.max : cap)
            if lastRows.count > r.height { visible = lastRows.prefix(r.height) }
        }
        var y = r.y
        for row in visible {
            var x = r.x
            for (text, role) in row { x += g.put(text, x: x, y: y, role: role, limit: r.maxX - x) }
            y += 1
        }
    }

    /// One entry as screen rows: time, who, text (wrapped under the text column).
    static func layout(_ e: LogEntry, width: Int, glyphs: Glyphs, zone: ClockZone = .utc, cap: Int = Int.max) -> [[(String, Role)]] {
        let time = zone.clock(e.at) + " "
        let indent = CharWidth.of(time)
        var lead: [(String, Role)] = [(time, .dim)]
        let textRole: Role
        var body = e.text
        switch e.kind {
        case .chat:
            lead.append((e.who + ": ", .chatName)); textRole = .text
        case .command: textRole = .accent
        case .refusal: textRole = .warn
        case .alert: textRole = .bad; body = glyphs.warning + " " + body
        case .system: textRole = .dim
        }
        let leadW = lead.reduce(0) { $0 + CharWidth.of($1.0) }
        let firstW = max(1, width - leadW)
        var wrapped = TextLayout.wrap(TerminalText.neutralise(body), firstW)
        if wrapped.count > 1 {
            let rest = wrapped.dropFirst().joined(separator: " ")
            wrapped = [wrapped[0]] + TextLayout.wrap(rest, max(1, width - indent), rows: max(1, cap - 1))
        }
        var out: [[(String, Role)]] = [lead + [(wrapped.first ?? "", textRole)]]
        for line in wrapped.dropFirst() { out.append([(String(repeating: " ", count: indent), .text), (line, textRole)]) }
        return out
    }
}
