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
            lines.append(("\(s.service) \(s.candidateNames(all: true))", .title))
            var st = label
            if case .rolling = s.phase, let i = s.stepIndex { st += " \(i + 1)/\(s.plan.steps.count)" }
            lines.append((st, role))
            var rest: [(String, Role)] = []
            let out = s.candidatesOut ?? []
            for w in s.observed {
                var t = "\(w.version) \(w.percent)%"
                if let rate = s.metrics[w.version]?.errorRate(lastSeconds: 10, now: m.now) { t += " err \(percentText(rate))" }
                if out.contains(w.version) { t += " out" }
                // Several candidates: each one's own verdict against the baseline.
                let over = s.isMultiway ? (s.candidateJudgements?[w.version]?.verdict == .fail || out.contains(w.version))
                    : w.version == s.to.name && m.judge.evaluate(s, now: m.now)?.verdict == .fail
                lines.append((t, over ? .bad : (s.isCandidate(w.version) ? .newVersion : .oldVersion)))
            }
            // What the person is to do next and its key (or the countdown), then why.
            let status = TrafficPane.statusLines(m).filter { $0.0.hasPrefix("router:") == false }
            if let p = s.paused {
                if let next = status.last { lines.append(next) }
                rest.append(("\(p.by): \(p.reason)", .warn))
            } else if let first = status.first {
                lines.append(first)
                rest.append(contentsOf: status.dropFirst())
            }
            // During the pipeline: the running or failed stage and its last line.
            if let st = s.runningStage ?? s.failedStage, s.phase == .pipeline || s.isFinished {
                lines.insert(("\(st.status == .running ? m.glyphs.running : m.glyphs.failed) \(st.name)\(st.output.last.map { ": " + $0 } ?? "")", st.status == .running ? .accent : .bad), at: 2)
            }
            if let problem = s.routerProblem { lines.insert(("router: \(problem)", .bad), at: 2) }
            lines.append(contentsOf: rest)
            if let msg = m.message { lines.append((msg.text, msg.isError ? .bad : .good)) }
            // The keys' reminder takes the last row when there is one to spare.
            if lines.count < g.height { lines.append(("? help  q quit", .dim)) }
        }
        // Wrapped where the rows allow it all; else a line each, cut to the width.
        guard g.width > 0 else { return }
        let wrapped = lines.map { ($0.1, TextLayout.wrap($0.0, g.width)) }
        let rows: [(String, Role)] = wrapped.reduce(0) { $0 + max(1, $1.1.count) } <= g.height
            ? wrapped.flatMap { w in (w.1.isEmpty ? [""] : w.1).map { ($0, w.0) } }
            : lines.map { (TextLayout.fit($0.0, g.width, ellipsis: m.glyphs.ellipsis), $0.1) }
        for (y, (text, role)) in rows.prefix(g.height).enumerated() {
            g.put(text, x: 0, y: y, role: role, limit: g.width)
        }
    }
}
