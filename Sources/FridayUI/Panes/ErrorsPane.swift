import FridayCore

/// Per version: error rate and p99 now, sparklines over the last minutes, the thresholds;
/// then the judge's verdict with the figures behind it.
public enum ErrorsPane {
    static let recentSeconds = 10.0
    static let bucketSeconds = 5.0

    public static func render(_ m: UIModel, into g: inout CellGrid, rect: Rect, focused: Bool) {
        let j = m.judge
        let limits = "catch \(format1(j.errorRatio))× errors · p99 ≤ \(format1(j.latencyLimit))×"
        let r = PaneFrame.draw(m, into: &g, rect: rect, pane: .errors, focused: focused, right: limits)
        guard !r.isEmpty else { return }
        let s = m.deploy
        let versions = ([s.from.name] + s.candidates.map(\.name)).filter { !$0.isEmpty }
        if versions.isEmpty || s.metrics.isEmpty {
            g.put(s.phase == .idle ? "no deploy yet" : "no traffic measured yet", x: r.x, y: r.y, role: .dim, limit: r.width)
            judgeLines(m, into: &g, r: r, y: r.y + 1)
            return
        }
        let nameW = max(8, versions.map { CharWidth.of($0) }.max()! + 1)
        let errW = 8, p99W = 8
        let sparkRoom = r.width - nameW - errW - p99W
        let twoSparks = sparkRoom >= 30
        let sparkW = max(0, twoSparks ? (sparkRoom - 3) / 2 : sparkRoom - 1)
        var y = r.y
        var x = r.x
        x += g.put(TextLayout.left("version", nameW), x: x, y: y, role: .dim)
        x += g.put(TextLayout.right("errors", errW - 1) + " ", x: x, y: y, role: .dim)
        x += g.put(TextLayout.right(s.latencyIsMean ? "avg" : "p99", p99W - 1) + " ", x: x, y: y, role: .dim)
        if sparkW >= 6 {
            let span = formatDuration(Double(sparkW) * bucketSeconds)
            g.put(TextLayout.fit("errors, \(span)", sparkW), x: x + 1, y: y, role: .dim)
            if twoSparks { g.put(TextLayout.fit("\(s.latencyIsMean ? "avg" : "p99"), \(span)", sparkW), x: x + sparkW + 3, y: y, role: .dim) }
        }
        y += 1
        // A finished deploy keeps its evidence on screen: the windows end where it ended
        // (after a revert the new version takes no traffic, and its lines would empty out).
        let shownAt = s.isFinished ? min(s.finishedAt ?? m.now, m.now) : m.now
        let basePoint = s.metrics[s.from.name]?.p99(lastSeconds: recentSeconds, now: shownAt)
        let baseRate = s.metrics[s.from.name]?.errorRate(lastSeconds: recentSeconds, now: shownAt)
        // The canary's error rate is flagged at the regression the judge looks for.
        let rateLimit = baseRate.map { max($0, 0.001) * j.errorRatio }
        for v in versions where y < r.maxY {
            let win = s.metrics[v] ?? MetricWindow()
            let isNew = s.isCandidate(v)
            let rate = win.errorRate(lastSeconds: recentSeconds, now: shownAt)
            let p99 = win.p99(lastSeconds: recentSeconds, now: shownAt)
            var x = r.x
            x += g.put(TextLayout.left(v, nameW), x: x, y: y, role: isNew ? .newVersion : .oldVersion)
            let over = isNew && rateLimit != nil && (rate ?? 0) > rateLimit!
            let rateText = rate.map { percentText($0) + (over ? m.glyphs.warning : " ") } ?? "–  "
            x += g.put(TextLayout.right(rateText, errW - 1) + " ", x: x, y: y, role: over ? .bad : .text)
            let slow = isNew && p99 != nil && basePoint != nil && p99! > basePoint! * j.latencyLimit
            let p99Text = p99.map { "\(SafeNumber.int($0.rounded()))ms" + (slow ? m.glyphs.warning : " ") } ?? "–  "
            x += g.put(TextLayout.right(p99Text, p99W - 1) + " ", x: x, y: y, role: slow ? .bad : .text)
            if sparkW >= 6 {
                let errs = win.errorRateSeries(buckets: sparkW, bucketSeconds: bucketSeconds, now: shownAt)
                g.put(" ", x: x, y: y)
                drawSpark(errs, top: max((rateLimit ?? 0.01) * 1.5, errs.compactMap { $0 }.max() ?? 0), limit: isNew ? rateLimit : nil,
                          glyphs: m.glyphs, into: &g, x: x + 1, y: y, role: isNew ? .newVersion : .oldVersion)
                if twoSparks {
                    let lat = win.p99Series(buckets: sparkW, bucketSeconds: bucketSeconds, now: shownAt)
                    // A healthy line sits mid-height; a regression past the limit reaches the top.
                    // Scaled to the old version's latency, the last it had if it gets no traffic now
                    // (after a promotion); with none at all, to twice the line's own peak. Before,
                    // with no baseline the peak was the top and a flat line drew as solid blocks.
                    let reference = basePoint ?? s.metrics[s.from.name]?.points.last(where: { $0.requests > 0 })?.p99
                    let peak = lat.compactMap { $0 }.max() ?? 1
                    let top = reference.map { max($0 * j.latencyLimit * 1.33, peak) } ?? peak * 2
                    drawSpark(lat, top: top, limit: nil, glyphs: m.glyphs, into: &g, x: x + sparkW + 3, y: y, role: isNew ? .newVersion : .oldVersion)
                }
            }
            y += 1
        }
        // A blank line before the judge only where there is room for it and a long verdict:
        // the verdict comes first.
        judgeLines(m, into: &g, r: r, y: r.maxY - y >= 8 ? y + 1 : y)
    }

    static func drawSpark(_ values: [Double?], top: Double, limit: Double?, glyphs: Glyphs, into g: inout CellGrid, x: Int, y: Int, role: Role) {
        let levels = glyphs.spark.count
        for (i, v) in values.enumerated() {
            guard let v else { g.put(" ", x: x + i, y: y, role: .dim); continue }
            let level = top > 0 ? min(levels - 1, max(0, Int((v / top) * Double(levels - 1) + 0.5))) : 0
            let over = limit.map { v > $0 } ?? false
            g.put(glyphs.spark[level], x: x + i, y: y, role: over ? .bad : role)
        }
    }

    static func judgeLines(_ m: UIModel, into g: inout CellGrid, r: Rect, y startY: Int) {
        var y = startY
        guard y < r.maxY else { return }
        let s = m.deploy
        if let problem = s.metricsProblem {
            for line in TextLayout.wrap("\(m.glyphs.warning) metrics unavailable: \(problem)", r.width, rows: max(0, min(3, r.maxY - y))) {
                g.put(line, x: r.x, y: y, role: .bad)
                y += 1
            }
        }
        if s.isMultiway || s.plan.isBenchmark, case .rolling = s.phase {
            candidateLines(m, into: &g, r: r, y: y)
            return
        }
        guard case .rolling = s.phase, let live = m.judge.evaluate(s, now: m.now) else {
            if let j = s.judgement, y < r.maxY {
                for line in TextLayout.wrap("last verdict: \(j.verdict.rawValue) · \(j.summary)", r.width, rows: r.maxY - y) {
                    g.put(line, x: r.x, y: y, role: j.verdict == .fail ? .bad : .dim)
                    y += 1
                }
            }
            return
        }
        let role: Role = live.verdict == .fail ? .bad : live.verdict == .pass ? .good : .accent
        let label = live.verdict == .inconclusive ? (s.extendedFor(at: m.now) != nil ? "WAITING" : "SAMPLING") : live.verdict.rawValue.uppercased()
        let x = g.put("judge ", x: r.x, y: y, role: .dim)
        let verdictW = g.put(label, x: r.x + x, y: y, role: role)
        let indent = x + verdictW + 2
        // The verdict wraps into the rows there are (a row kept for a judge's hold), and says
        // with `…` where it had to stop.
        let heldRow = s.paused?.by == "judge" ? 1 : 0
        for line in TextLayout.wrap(live.summary, max(1, r.width - indent), rows: max(1, r.maxY - y - heldRow)) where y < r.maxY {
            g.put(line, x: r.x + indent, y: y, role: role == .good || role == .accent ? .text : role)
            y += 1
        }
        // The statistic between its two bounds: pass ├────●──────┤ fail
        let gaugeW = min(22, r.width - 36)
        if gaugeW >= 8, y < r.maxY {
            let lo = live.passBound, hi = live.failBound
            let pos = SafeNumber.int(((min(max(live.statistic, lo), hi) - lo) / (hi - lo) * Double(gaugeW - 1)).rounded())
            var gx = r.x + g.put("pass ", x: r.x, y: y, role: .good)
            for i in 0..<gaugeW {
                gx += g.put(i == pos ? m.glyphs.running : m.glyphs.horizontal, x: gx, y: y, role: i == pos ? role : .dim)
            }
            // In words: how strong the evidence is, and where it would fail.
            let watch = live.passed ? "\(format1(live.cusum)) (fails at \(format1(m.judge.cusumBound(s.plan))))"
                : "\(format1(live.statistic)) (fails at \(format1(hi)))"
            g.put(" fail  \(watch)", x: gx, y: y, role: .dim, limit: r.maxX - gx)
            y += 1
        }
        let f = Dictionary(live.figures.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var parts: [String] = []
        if let share = f["canary share"] { parts.append("canary share \(percentText(share.value))") }
        if let cr = f["canary requests"], let ce = f["canary errors"], let br = f["old requests"], let be = f["old errors"] {
            parts.append("\(groupedInt(Int(ce.value)))/\(groupedInt(Int(cr.value))) errors vs \(groupedInt(Int(be.value)))/\(groupedInt(Int(br.value)))")
        }
        if let p = f["p99 ratio"] {
            // The milliseconds behind the ratio, both versions.
            let canary = s.metrics[s.to.name]?.p99(lastSeconds: recentSeconds, now: m.now)
            let base = s.metrics[s.from.name]?.p99(lastSeconds: recentSeconds, now: m.now)
            let ms = zip2(canary, base).map { "\(SafeNumber.int($0.0.rounded())) vs \(SafeNumber.int($0.1.rounded())) ms, " } ?? ""
            // The column's own word: avg where the source gives a mean (HAProxy's rtime).
            parts.append("\(s.latencyIsMean ? "avg" : "p99") \(ms)\(format2(p.value))× (limit \(format1(p.limit ?? 0))×)")
        }
        for line in TextLayout.wrap("this step: " + parts.joined(separator: " · "), r.width, rows: max(0, r.maxY - y - heldRow)) {
            g.put(line, x: r.x, y: y, role: .dim)
            y += 1
        }
        if let p = s.paused, p.by == "judge", y < r.maxY {
            g.put("held for a human: \(Keymap.key(for: .promote)) promote · \(Keymap.key(for: .revert)) revert", x: r.x, y: y, role: .warn, limit: r.width)
        }
    }
}

extension ErrorsPane {
    /// Several candidates (or a benchmark): a verdict line per candidate, those taken out,
    /// and the benchmark's live report.
    static func candidateLines(_ m: UIModel, into g: inout CellGrid, r: Rect, y startY: Int) {
        var y = startY
        let s = m.deploy
        let results: [(version: String, result: CanaryJudge.Result)] = s.isMultiway
            ? m.judge.evaluateCandidates(s, now: m.now) : m.judge.evaluate(s, now: m.now).map { [(s.to.name, $0)] } ?? []
        let nameW = (s.candidates.map { CharWidth.of($0.name) }.max() ?? 1) + 1
        // What needs a person first, where rows are few: a failing candidate, one taken out,
        // one still sampling or waiting, then those that passed.
        var rows: [(rank: Int, version: String, label: String, text: String, role: Role)] = []
        for (v, live) in results {
            let role: Role = live.verdict == .fail ? .bad : live.verdict == .pass ? .good : .accent
            let label = live.verdict == .inconclusive ? (s.extendedFor(at: m.now) != nil ? "WAITING" : "SAMPLING") : live.verdict.rawValue.uppercased()
            rows.append((live.verdict == .fail ? 0 : live.verdict == .inconclusive ? 2 : 3, v, label, live.summary, role))
        }
        for v in s.candidatesOut ?? [] { rows.append((1, v, "OUT", "taken out of rotation; its share went to the others", .bad)) }
        // Each verdict wraps into the rows there are: every candidate gets its first line, then
        // the rows left go to them in the same order (what needs a person first); a verdict
        // that had to stop ends in `…`.
        let sorted = rows.enumerated().sorted(by: { ($0.element.rank, $0.offset) < ($1.element.rank, $1.offset) }).map(\.element)
        let textX = nameW + 9
        let wrapped = sorted.map { TextLayout.wrap($0.text, max(1, r.width - textX)) }
        var room = max(0, r.maxY - y - (s.plan.isBenchmark ? 1 : 0))
        var give = wrapped.map { _ in 0 }
        for i in give.indices where room > 0 { give[i] = 1; room -= 1 }
        for i in give.indices where room > 0 {
            let more = min(room, wrapped[i].count - 1)
            give[i] += more; room -= more
        }
        for (i, row) in sorted.enumerated() where y < r.maxY && give[i] > 0 {
            var x = g.put(TextLayout.left(row.version, nameW), x: r.x, y: y, role: row.label == "OUT" ? .bad : .newVersion)
            x += g.put(TextLayout.left(row.label, 9), x: r.x + x, y: y, role: row.role)
            for line in TextLayout.wrap(row.text, max(1, r.width - textX), rows: give[i]) where y < r.maxY {
                g.put(line, x: r.x + textX, y: y, role: row.label == "OUT" ? .dim : row.role == .bad ? .bad : .text, limit: max(0, r.width - textX))
                y += 1
            }
        }
        if s.plan.isBenchmark, y < r.maxY {
            let text = Benchmark.evaluate(s).map(\.summary) ?? "benchmark: sampling (\(Benchmark.minSeconds) s of traffic on every version first)"
            for line in TextLayout.wrap(text, r.width, rows: r.maxY - y) {
                g.put(line, x: r.x, y: y, role: .text)
                y += 1
            }
        }
    }
}

private func zip2<A, B>(_ a: A?, _ b: B?) -> (A, B)? {
    guard let a, let b else { return nil }
    return (a, b)
}
