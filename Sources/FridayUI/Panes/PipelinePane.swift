import FridayCore

/// Pipeline stages with status glyphs and durations, then the running (or failed, or
/// last) stage's newest output lines. Scrolling moves back through that output.
public enum PipelinePane {
    public static func render(_ m: UIModel, into g: inout CellGrid, rect: Rect, focused: Bool) {
        let s = m.deploy
        // One row (the pipeline is over and rows are short): its title and how it went on the
        // box's top edge, no box.
        if rect.height == 1 {
            g.fill(rect)
            for x in rect.x..<rect.maxX { g.put(m.glyphs.horizontal, x: x, y: rect.y, role: focused ? .focusBorder : .border) }
            var x = rect.x + 1
            x += g.put(" \(PaneFrame.title(.pipeline, focused: focused, glyphs: m.glyphs)) ", x: x, y: rect.y, role: .title, limit: rect.maxX - x - 1)
            let (text, role) = summary(s, glyphs: m.glyphs)
            g.put(" \(text) ", x: x + 1, y: rect.y, role: role, limit: rect.maxX - x - 2)
            return
        }
        let r = PaneFrame.draw(m, into: &g, rect: rect, pane: .pipeline, focused: focused)
        guard !r.isEmpty else { return }
        if s.stages.isEmpty {
            g.put(s.phase == .idle ? "waiting for a deploy…" : "no pipeline stages", x: r.x, y: r.y, role: .dim, limit: r.width)
            return
        }
        var y = r.y
        // Short of rows: once the pipeline is over, one line says how it went; during it, the
        // running (or failed) stage comes first and the rest are counted.
        let key = s.runningStage ?? s.failedStage
        // Every stage and the key stage's last line, or the key stage first and the rest counted.
        if r.height < s.stages.count + (key?.output.isEmpty == false ? 1 : 0) {
            if key == nil {
                let (text, role) = summary(s, glyphs: m.glyphs)
                g.put(text, x: r.x, y: y, role: role, limit: r.width)
                return
            }
            let st = key!
            g.put(st.status == .running ? m.glyphs.running : m.glyphs.failed, x: r.x, y: y, role: st.status == .running ? .accent : .bad)
            let rest = s.stages.count - 1
            g.put("\(st.name) · \(m.glyphs.ellipsis) \(rest) more", x: r.x + 2, y: y, role: .text, limit: r.width - 2)
            y += 1
            if y < r.maxY, let last = st.output.last { g.put("  " + last, x: r.x, y: y, role: st.status == .failed ? .bad : .dim, limit: r.width) }
            return
        }
        for st in s.stages {
            guard y < r.maxY else { break }
            let (glyph, role): (String, Role)
            switch st.status {
            case .pending: (glyph, role) = (m.glyphs.pending, .dim)
            case .running: (glyph, role) = (m.glyphs.running, .accent)
            case .succeeded: (glyph, role) = (m.glyphs.ok, .good)
            case .failed, .cancelled: (glyph, role) = (m.glyphs.failed, .bad)
            }
            var dur = ""
            if let secs = st.seconds { dur = formatDuration(secs) } else if st.status == .running, let a = st.startedAt {
                dur = formatDuration(m.now - a) + m.glyphs.ellipsis
            }
            g.put(glyph, x: r.x, y: y, role: role)
            g.put(st.name, x: r.x + 2, y: y, role: st.status == .pending ? .dim : .text, limit: r.width - 2 - CharWidth.of(dur) - 1)
            g.put(TextLayout.right(dur, CharWidth.of(dur)), x: r.maxX - CharWidth.of(dur), y: y, role: st.status == .running ? .accent : .dim)
            y += 1
        }
        // Lines of an outside CI's report that were refused stay counted in sight.
        if let n = s.ingestRefused, n > 0, y < r.maxY {
            g.put("\(m.glyphs.failed) \(n) CI line\(n == 1 ? "" : "s") refused (team log)", x: r.x, y: y, role: .bad, limit: r.width)
            y += 1
        }
        let shown = s.runningStage ?? s.failedStage ?? s.stages.last(where: { !$0.output.isEmpty })
        guard let stage = shown, y < r.maxY else { return }
        // A blank line before the output where there is room for it and a line of output.
        if y + 1 < r.maxY { y += 1 }
        let room = r.maxY - y
        let back = min(m.scroll[.pipeline] ?? 0, max(0, stage.output.count - room))
        let end = stage.output.count - back
        let lines = stage.output[max(0, end - room)..<end]
        let role: Role = stage.status == .failed ? .bad : .dim
        for line in lines {
            g.put("  " + line, x: r.x, y: y, role: role, limit: r.width)
            y += 1
        }
        if back > 0 { g.put("↓\(back)", x: r.maxX - 4, y: r.maxY - 1, role: .accent) }
    }

    /// How the pipeline went, in one line.
    static func summary(_ s: DeployState, glyphs: Glyphs) -> (String, Role) {
        if s.stages.isEmpty { return ("no pipeline stages", .dim) }
        let secs = s.stages.compactMap(\.seconds).reduce(0, +)
        let ok = s.stages.allSatisfy { $0.status == .succeeded }
        return ok ? ("\(glyphs.ok) all \(s.stages.count) stages passed in \(formatDuration(secs))", .good)
            : ("\(s.stages.filter { $0.status == .succeeded }.count) of \(s.stages.count) stages passed", .dim)
    }
}
