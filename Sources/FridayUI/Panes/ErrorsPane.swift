import FridayCore

/// Per version: error rate and p99 now, sparklines over the last minutes, the thresholds;
/// then the judge's verdict with the figures behind it.
public enum ErrorsPane {
    static let recentSeconds = 10.0
    static let bucketSeconds = 5.0

    public static func render(_ m: UIModel, into g: inout CellGrid, rect: Rect, focused: Bool) {
        let j = m.judge
        let limits = "err ≤ \(percentText(j.maxErrorRate)) · p99 ≤ \(format1(j.maxP99Ratio))×"
        let r = PaneFrame.draw(m, into: &g, rect: rect, pane: .errors, focused: focused, right: limits)
        guard !r.isEmpty else { return }
        let s = m.deploy
        let versions = [s.from.name, s.to.name].filter { !$0.isEmpty }
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
        x += g.put(TextLayout.right("p99", p99W - 1) + " ", x: x, y: y, role: .dim)
        if sparkW >= 6 {
            let span = formatDuration(Double(sparkW) * bucketSeconds)
            g.put(TextLayout.fit("errors, \(span)", sparkW), x: x + 1, y: y, role: .dim)
            if twoSparks { g.put(TextLayout.fit("p99, \(span)", sparkW), x: x + sparkW + 3, y: y, role: .dim) }
        }
        y += 1
        let basePoint = s.metrics[s.from.name]?.p99(lastSeconds: recentSeconds, now: m.now)
        for v in versions where y < r.maxY {
            let win = s.metrics[v] ?? MetricWindow()
            let isNew = v == s.to.name
            let rate = win.errorRate(lastSeconds: recentSeconds, now: m.now)
            let p99 = win.p99(lastSeconds: recentSeconds, now: m.now)
            var x = r.x
            x += g.put(TextLayout.left(v, nameW), x: x, y: y, role: isNew ? .newVersion : .oldVersion)
            let over = isNew && (rate ?? 0) > j.maxErrorRate
            let rateText = rate.map { percentText($0) + (over ? m.glyphs.warning : " ") } ?? "–  "
            x += g.put(TextLayout.right(rateText, errW - 1) + " ", x: x, y: y, role: over ? .bad : .text)
            let slow = isNew && p99 != nil && basePoint != nil && p99! > basePoint! * j.maxP99Ratio
            let p99Text = p99.map { "\(Int($0.rounded()))ms" + (slow ? m.glyphs.warning : " ") } ?? "–  "
            x += g.put(TextLayout.right(p99Text, p99W - 1) + " ", x: x, y: y, role: slow ? .bad : .text)
            if sparkW >= 6 {
                let errs = win.errorRateSeries(buckets: sparkW, bucketSeconds: bucketSeconds, now: m.now)
                g.put(" ", x: x, y: y)
                drawSpark(errs, top: max(j.maxErrorRate * 1.5, errs.compactMap { $0 }.max() ?? 0), limit: j.maxErrorRate,
                          glyphs: m.glyphs, into: &g, x: x + 1, y: y, role: isNew ? .newVersion : .oldVersion)
                if twoSparks {
                    let lat = win.p99Series(buckets: sparkW, bucketSeconds: bucketSeconds, now: m.now)
                    // A healthy line sits mid-height; a regression past the limit reaches the top.
                    let top = max((basePoint ?? 0) * j.maxP99Ratio * 1.33, lat.compactMap { $0 }.max() ?? 1)
                    drawSpark(lat, top: top, limit: nil, glyphs: m.glyphs, into: &g, x: x + sparkW + 3, y: y, role: isNew ? .newVersion : .oldVersion)
                }
            }
            y += 1
        }
        judgeLines(m, into: &g, r: r, y: y + 1)
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
        guard case .rolling = s.phase, let live = m.judge.evaluate(s, now: m.now) else {
            if let j = s.judgement, y < r.maxY {
                g.put("last verdict: \(j.verdict.rawValue) · \(j.summary)", x: r.x, y: y, role: j.verdict == .fail ? .bad : .dim, limit: r.width)
            }
            return
        }
        let role: Role = live.verdict == .fail ? .bad : live.verdict == .pass ? .good : .dim
        let x = g.put("judge ", x: r.x, y: y, role: .dim)
        let verdictW = g.put(live.verdict.rawValue.uppercased(), x: r.x + x, y: y, role: role)
        let indent = x + verdictW + 2
        for (i, line) in TextLayout.wrap(live.summary, max(1, r.width - indent)).enumerated() where y < r.maxY {
            _ = i
            g.put(line, x: r.x + indent, y: y, role: role == .good ? .text : role)
            y += 1
        }
        let figures = live.figures.map { f -> String in
            switch f.name {
            case "canary requests": return "\(groupedInt(Int(f.value))) canary req (min \(groupedInt(Int(f.limit ?? 0))))"
            case "canary error rate": return "err \(percentText(f.value)) of \(percentText(f.limit ?? 0))"
            case "p99 ratio": return "p99 \(format2(f.value))× of \(format1(f.limit ?? 0))×"
            default: return "\(f.name) \(format2(f.value))"
            }
        }
        let window = "last \(formatDuration(m.judge.windowSeconds)) of this step: "
        for line in TextLayout.wrap(window + figures.joined(separator: " · "), r.width) where y < r.maxY {
            g.put(line, x: r.x, y: y, role: .dim)
            y += 1
        }
        if let p = s.paused, p.by == "judge", y < r.maxY {
            g.put("held for a human: space resume · r revert", x: r.x, y: y, role: .warn, limit: r.width)
        }
    }
}
