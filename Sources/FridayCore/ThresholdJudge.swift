/// The interim canary check: error rate and p99 against fixed limits over a recent window.
///
/// It holds a rollout for a human rather than reverting; the sequential test of the
/// rollout-engine work replaces it. Figures are always reported so the screen can say why.
public struct ThresholdJudge: Sendable, Equatable {
    /// Highest acceptable canary error rate (0.02 = 2%).
    public var maxErrorRate: Double
    /// Highest acceptable canary p99 as a multiple of the old version's.
    public var maxP99Ratio: Double
    /// Seconds of traffic considered.
    public var windowSeconds: Double
    /// Fewest canary requests in the window before any verdict.
    public var minRequests: Int

    public init(maxErrorRate: Double = 0.02, maxP99Ratio: Double = 1.5, windowSeconds: Double = 30, minRequests: Int = 100) {
        self.maxErrorRate = maxErrorRate; self.maxP99Ratio = maxP99Ratio
        self.windowSeconds = windowSeconds; self.minRequests = minRequests
    }

    public struct Result: Sendable, Equatable {
        public var verdict: Verdict
        public var summary: String
        public var figures: [Figure]
    }

    /// Judges the current step's canary traffic at `now`; nil when no step is running.
    public func evaluate(_ s: DeployState, now: Timestamp) -> Result? {
        guard case .rolling = s.phase, s.stepIndex != nil, let since = s.stepStartedAt else { return nil }
        let canary = s.metrics[s.to.name] ?? MetricWindow()
        let base = s.metrics[s.from.name] ?? MetricWindow()
        let c = canary.counts(lastSeconds: windowSeconds, now: now, since: since)
        let rate = c.requests > 0 ? Double(c.errors) / Double(c.requests) : 0
        var figures = [
            Figure(name: "canary requests", value: Double(c.requests), limit: Double(minRequests)),
            Figure(name: "canary error rate", value: rate, limit: maxErrorRate),
        ]
        let cp = canary.p99(lastSeconds: windowSeconds, now: now, since: since)
        let bp = base.p99(lastSeconds: windowSeconds, now: now, since: since)
        var ratio: Double?
        if let cp, let bp, bp > 0 { ratio = cp / bp; figures.append(Figure(name: "p99 ratio", value: cp / bp, limit: maxP99Ratio)) }
        if c.requests < minRequests {
            return Result(verdict: .inconclusive, summary: "\(c.requests) of \(minRequests) canary requests needed", figures: figures)
        }
        if rate > maxErrorRate {
            return Result(verdict: .fail, summary: "\(s.to.name) error rate \(percentText(rate)) over the \(percentText(maxErrorRate)) threshold", figures: figures)
        }
        if let ratio, ratio > maxP99Ratio {
            return Result(verdict: .fail, summary: "\(s.to.name) p99 \(String(format1(ratio)))× \(s.from.name)'s, over the \(String(format1(maxP99Ratio)))× limit", figures: figures)
        }
        return Result(verdict: .pass, summary: "error rate \(percentText(rate)), within \(percentText(maxErrorRate))", figures: figures)
    }
}

/// `6.1%`, `0.25%`, `12%`.
public func percentText(_ fraction: Double) -> String {
    let p = fraction * 100
    if p >= 10 { return "\(Int(p.rounded()))%" }
    if p >= 1 { return "\(format1(p))%" }
    return "\(format2(p))%"
}

public func format1(_ x: Double) -> String {
    let v = (x * 10).rounded() / 10
    let i = Int(v.rounded(.towardZero))
    let f = Int((abs(v - Double(i)) * 10).rounded())
    return (v < 0 && i == 0 ? "-" : "") + "\(i).\(f)"
}

public func format2(_ x: Double) -> String {
    let v = (x * 100).rounded() / 100
    let i = Int(v.rounded(.towardZero))
    let f = Int((abs(v - Double(i)) * 100).rounded())
    return (v < 0 && i == 0 ? "-" : "") + "\(i)." + (f < 10 ? "0" : "") + "\(f)"
}
