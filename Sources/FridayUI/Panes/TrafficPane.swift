import FridayCore

/// A bar per version with its confirmed share, the step list with the current step
/// marked, and what happens next (countdown, "until promoted", paused, finished).
public enum TrafficPane {
    public static func render(_ m: UIModel, into g: inout CellGrid, rect: Rect, focused: Bool) {
        let r = PaneFrame.draw(m, into: &g, rect: rect, pane: .traffic, focused: focused)
        guard !r.isEmpty else { return }
        let s = m.deploy
        if s.phase == .idle { g.put("no traffic split yet", x: r.x, y: r.y, role: .dim, limit: r.width); return }
        var y = r.y
        // One bar per version, as read back: the baseline and every candidate.
        let labelW = (s.observed.map { CharWidth.of($0.version) } + [CharWidth.of(s.from.name), CharWidth.of(s.to.name)]).max()! + 1
        let out = Set(s.candidatesOut ?? [])
        for w in s.observed where y < r.maxY {
            let role: Role = out.contains(w.version) ? .bad : s.isCandidate(w.version) ? .newVersion : .oldVersion
            g.put(w.version, x: r.x, y: y, role: role, limit: labelW)
            let pct = TextLayout.right("\(w.percent)%", 5)
            let barW = max(0, r.width - labelW - 6)
            let filled = SafeNumber.int((Double(barW) * Double(w.percent) / 100).rounded())
            let bar = String(repeating: m.glyphs.barFull, count: filled)
            let empty = String(repeating: m.glyphs.barEmpty, count: max(0, barW - filled))
            g.put(bar, x: r.x + labelW, y: y, role: role)
            g.put(empty, x: r.x + labelW + filled, y: y, role: .dim)
            g.put(pct, x: r.maxX - 5, y: y, role: .text)
            y += 1
        }
        if !out.isEmpty, y < r.maxY {
            g.put("out of rotation: \((s.candidatesOut ?? []).joined(separator: ", "))\(s.liveCandidates.isEmpty ? "" : "; \(s.liveCandidates.map(\.name).joined(separator: ", ")) go\(s.liveCandidates.count == 1 ? "es" : "") on")", x: r.x, y: y, role: .bad, limit: r.width)
            y += 1
        }
        if let d = s.drift, y < r.maxY {
            let want = weightsText(d.wanted)
            g.put("changed outside friday (friday set \(want))", x: r.x, y: y, role: .bad, limit: r.width)
            y += 1
        } else if let at = s.observedAt, !s.isFinished, m.now - at >= 3, y < r.maxY {
            // The split shown is the last one read back: say how old it is once it is stale.
            g.put("read back \(formatDuration(m.now - at)) ago", x: r.x, y: y, role: .warn, limit: r.width)
            y += 1
        }
        if s.drift == nil, !s.trafficSettled, y < r.maxY {
            let want = weightsText(s.wanted)
            g.put("setting \(want): waiting for the router", x: r.x, y: y, role: .warn, limit: r.width)
            y += 1
        }
        // A blank line before the steps only where the steps and what happens next still fit.
        if r.maxY - y > 1 + TrafficPane.statusLines(m).count { y += 1 }
        guard y < r.maxY else { return }
        // Step list.
        var x = g.put("steps ", x: r.x, y: y, role: .dim)
        for (i, step) in s.plan.steps.enumerated() {
            let current = s.stepIndex == i && !s.isFinished
            let done = (s.stepIndex.map { i < $0 } ?? false) || (s.outcome == .promoted)
            let text: String, role: Role
            // Several candidates: every version's share, baseline first (34/33/33).
            let label = step.weights.map { $0.map { "\($0.percent)" }.joined(separator: "/") } ?? "\(step.weight)%"
            if current { text = "\(m.glyphs.current)\(label)"; role = .accent }
            else if s.outcome == .reverted, s.stepIndex == i { text = "\(label)\(m.glyphs.failed)"; role = .bad } // where it failed
            else if done { text = "\(label)\(m.glyphs.ok)"; role = .good }
            else { text = label; role = .dim }
            if x + CharWidth.of(text) + 1 > r.width { g.put(m.glyphs.ellipsis, x: r.x + x, y: y, role: .dim); break }
            x += g.put(text, x: r.x + x, y: y, role: role) + 1
            if i < s.plan.steps.count - 1, x + 2 <= r.width { x += g.put(" ", x: r.x + x, y: y, role: .dim) }
        }
        y += 1
        for (text, role) in statusLines(m) where y < r.maxY {
            for line in TextLayout.wrap(text, r.width, rows: r.maxY - y) {
                g.put(line, x: r.x, y: y, role: role, limit: r.width)
                y += 1
            }
        }
    }

    static func statusLines(_ m: UIModel) -> [(String, Role)] {
        let s = m.deploy
        var out: [(String, Role)] = []
        if let problem = s.routerProblem { out.append(("router: \(problem)", .bad)) }
        switch s.phase {
        case .idle: break
        case .pipeline:
            if let st = s.failedStage {
                out.append(("pipeline failed at \(st.name): no traffic moved", .bad))
                out.append(("fix it and deploy again · \(Keymap.key(for: .open)): its output", .dim))
            } else {
                out.append(("the canary starts when the pipeline succeeds", .dim))
            }
        case .rolling:
            guard let i = s.stepIndex, i < s.plan.steps.count else { break }
            let step = s.plan.steps[i]
            // Several candidates: the next step's split as it would be set (taken-out candidates at 0).
            let next = i + 1 < s.plan.steps.count
                ? (s.isMultiway ? weightsText(RolloutLogic.weights(in: s, step: i + 1).filter { $0.percent > 0 }) : "\(s.plan.steps[i + 1].weight)%") : "done"
            if let p = s.paused {
                out.append(("\(p.by == "judge" || p.by == "engine" ? "held" : "paused") by \(p.by): \(p.reason)", .warn))
                if let rem = p.remaining { out.append(("\(formatDuration(rem)) left of this step's pause when resumed", .dim)) }
                // A hold by the judge comes back if only resumed: p, which moves on, comes first.
                let held = p.by == "judge" || p.by == "engine"
                let (p, r, sp) = (Keymap.key(for: .promote), Keymap.key(for: .revert), Keymap.key(for: .togglePause))
                out.append((held ? "\(p) promote to \(next) · \(r) revert · \(sp) judge again" : "\(sp) resume · \(p) promote anyway · \(r) revert", .dim))
            } else if step.pause == .untilPromoted {
                out.append(("step \(i + 1)/\(s.plan.steps.count) holds until promoted: \(Keymap.key(for: .promote)) for \(next)", .accent))
            } else if let ext = s.extendedFor(at: m.now) {
                out.append(("step \(i + 1)/\(s.plan.steps.count) · \(next) waits for the judge's evidence (\(formatDuration(ext)) so far)", .accent))
            } else if let rem = s.pauseRemaining(at: m.now) {
                out.append(("step \(i + 1)/\(s.plan.steps.count) · next \(next) in \(clock(rem))", .text))
            }
        case .finished(.promoted):
            out.append((s.isMultiway ? "promoted: \(weightsText(s.wanted.filter { $0.percent > 0 }))" : "promoted: \(s.to.name) takes all traffic", .good))
        case .finished(.reverted):
            out.append(("reverted: \(s.from.name) takes all traffic · \(Keymap.key(for: .retry)) to retry", .bad))
        case .finished(.failed):
            if let st = s.failedStage {
                out.append(("failed at stage \(st.name): no traffic moved", .bad))
                out.append(("fix it and deploy again · \(Keymap.key(for: .open)): its output", .dim))
            } else {
                out.append(("failed: the rollout · \(Keymap.key(for: .retry)) to retry", .bad))
            }
        }
        return out
    }

    static func clock(_ seconds: Double) -> String {
        let s = SafeNumber.int(seconds.rounded(.up))
        return "\(s / 60):" + (s % 60 < 10 ? "0" : "") + "\(s % 60)"
    }
}
