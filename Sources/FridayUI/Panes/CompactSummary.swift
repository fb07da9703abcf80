import FridayCore

/// For terminals too small for panes: state, weights and error rates in a few lines.
/// Never draws outside the grid, whatever its size.
public enum CompactSummary {
    public static func render(_ m: UIModel, into g: inout CellGrid) {
        let s = m.deploy
        var lines: [(String, Role)] = []
        let (label, role) = Screen.stateLabel(s)
        if s.phase == .idle {
            lines.append(("friday: waiting", .dim))
        } else {
            lines.append(("\(s.service) \(s.to.name)", .title))
            var st = label
            if case .rolling = s.phase, let i = s.stepIndex { st += " \(i + 1)/\(s.plan.steps.count)" }
            lines.append((st, role))
            for w in s.observed {
                var t = "\(w.version) \(w.percent)%"
                if let rate = s.metrics[w.version]?.errorRate(lastSeconds: 10, now: m.now) { t += " err \(percentText(rate))" }
                let over = w.version == s.to.name && m.judge.evaluate(s, now: m.now)?.verdict == .fail
                lines.append((t, over ? .bad : (w.version == s.to.name ? .newVersion : .oldVersion)))
            }
            if let p = s.paused { lines.append(("\(p.by): \(p.reason)", .warn)) }
            if let msg = m.message { lines.append((msg.text, msg.isError ? .bad : .good)) }
            lines.append(("? help  q quit", .dim))
        }
        for (y, (text, role)) in lines.prefix(g.height).enumerated() {
            g.put(TextLayout.fit(text, g.width, ellipsis: m.glyphs.ellipsis), x: 0, y: y, role: role, limit: g.width)
        }
    }
}
