import Foundation

/// What the judge can decide at a given traffic, before a deploy starts: for each step, the
/// expected time for a healthy canary to pass and for a regressed one to fail (Wald's
/// approximation: the distance to the bound over the expected gain per second), and whether
/// the step can be decided within its pause plus `maxExtension`. `friday check` prints it.
///
/// The regressed canary is the one the judge is set to catch: `errorRatio` times the old
/// version's rate, and at least 2 × `minErrorRateIncrease` above it (a canary exactly
/// +δ above is at the edge of the fail rule and fails half the time).
public struct JudgeForecast: Sendable, Equatable {
    public struct Step: Sendable, Equatable {
        public var index: Int
        public var weight: Int
        /// The step's pause in seconds; nil for a pause that waits for a person.
        public var pause: Double?
        /// Expected seconds for a healthy canary to pass, and for a regressed one to fail; nil: never.
        public var pass: Double?
        public var fail: Double?
        /// The chance a healthy canary has not passed by the end of the pause plus maxExtension
        /// (and so is held for a person); nil for a pause that waits for a person.
        public var heldChance: Double?
        /// A step with a timed pause that holds more than 1 in 100 healthy canaries.
        public var tooSlow: Bool
    }

    public var requestsPerSecond: Double
    public var errorRate: Double
    /// The error rate was not given: the forecast is for the slowest one.
    public var errorRateAssumed: Bool
    public var steps: [Step]
    public var maxExtension: Double
    /// A step holding more healthy canaries than this is flagged by `friday check`.
    public static let heldLimit = 0.01

    /// The forecast for `plan` at `requestsPerSecond` in all; `errorRate` nil means the
    /// slowest error rate for this judge (found on a grid from 0 to 5%).
    public static func make(judge: CanaryJudge, plan: RolloutPlan, requestsPerSecond r: Double, errorRate: Double?) -> JudgeForecast {
        let p = errorRate ?? slowestErrorRate(judge: judge, plan: plan, requestsPerSecond: r)
        var steps: [Step] = []
        for (i, st) in plan.steps.enumerated() where st.weight > 0 && st.weight < 100 {
            let share = candidateShare(st)
            let pass = judge.expectedSecondsToPass(share: share, baseShare: baseShare(st), requestsPerSecond: r, errorRate: p, plan: plan)
            let fail = judge.expectedSecondsToFail(share: share, baseShare: baseShare(st), requestsPerSecond: r, errorRate: p, plan: plan)
            let pause: Double? = { if case let .seconds(s) = st.pause { return s }; return nil }()
            let held = pause.map { judge.chanceUndecided(after: $0 + judge.maxExtension, share: share, baseShare: baseShare(st), requestsPerSecond: r, errorRate: p, plan: plan) }
            steps.append(Step(index: i, weight: st.weight, pause: pause, pass: pass, fail: fail, heldChance: held, tooSlow: (held ?? 0) > JudgeForecast.heldLimit))
        }
        return JudgeForecast(requestsPerSecond: r, errorRate: p, errorRateAssumed: errorRate == nil, steps: steps, maxExtension: judge.maxExtension)
    }

    /// The share of the candidate judged on the least traffic in a step (with several, each
    /// is judged against the baseline at its own share).
    static func candidateShare(_ st: RolloutStep) -> Double {
        st.weights.map { ws in Double(ws.dropFirst().map(\.percent).filter { $0 > 0 }.min() ?? st.weight) / 100 } ?? Double(st.weight) / 100
    }

    static func baseShare(_ st: RolloutStep) -> Double {
        st.weights.map { Double($0.first?.percent ?? 0) / 100 } ?? Double(100 - st.weight) / 100
    }

    /// The error rate at which a healthy canary takes longest to pass the plan's first judged
    /// step (where the two tests are weakest: errors too rare for the ratio test, too common
    /// for the bound test).
    public static func slowestErrorRate(judge: CanaryJudge, plan: RolloutPlan, requestsPerSecond r: Double) -> Double {
        guard let st = plan.steps.first(where: { $0.weight > 0 && $0.weight < 100 }) else { return 0 }
        var worst = 0.0, worstTime = -1.0
        for e in stride(from: -5.0, through: -1.3, by: 0.05) {
            let p = Foundation.pow(10, e)
            let t = judge.expectedSecondsToPass(share: Double(st.weight) / 100, baseShare: baseShare(st), requestsPerSecond: r, errorRate: p, plan: plan) ?? .infinity
            if t > worstTime { worstTime = t; worst = p }
        }
        return worst
    }

    /// The smallest first step (a whole percent up to 50) that a healthy canary is expected to
    /// pass within `pause` + `maxExtension` at this traffic; nil when none is.
    public static func smallestDecidableWeight(judge: CanaryJudge, plan: RolloutPlan, requestsPerSecond r: Double, errorRate p: Double, pause: Double) -> Int? {
        for w in 1...50 {
            let share = Double(w) / 100
            if judge.chanceUndecided(after: pause + judge.maxExtension, share: share, baseShare: 1 - share, requestsPerSecond: r, errorRate: p, plan: plan) <= heldLimit { return w }
        }
        return nil
    }
}

extension CanaryJudge {
    /// The bound test's expected gain per canary request for a canary as healthy as the old
    /// version (rate `p`), with the old version's lower bound after `baseRequests` of its
    /// requests (nil: known exactly); nil where the test cannot be made.
    func boundGain(errorRate p: Double, baseRequests nb: Double?) -> Double? {
        let low: Double
        if let nb {
            let n = SafeNumber.int(min(nb, 1e15).rounded(.down))
            low = n > 0 ? CanaryJudge.anytimeLowerBound(errors: SafeNumber.int((p * Double(n)).rounded()), requests: n, level: boundLowerLevel) : 0
        } else {
            low = p
        }
        guard let h = boundHypotheses(low: low, seen: p) else { return nil }
        return p * Foundation.log(h.healthy / h.regressed) + (1 - p) * (Foundation.log1p(-h.healthy) - Foundation.log1p(-h.regressed))
    }

    /// Expected seconds for a canary as healthy as the old version (error rate `p`) to pass a
    /// step at `share` of `requestsPerSecond` (the old version at `baseShare`): the sooner of
    /// the ratio test and the bound test, and not before `minRequests`; nil if neither moves.
    public func expectedSecondsToPass(share w: Double, baseShare: Double, requestsPerSecond r: Double, errorRate p: Double, plan: RolloutPlan) -> Double? {
        guard w > 0, r > 0 else { return nil }
        let pass = bounds(plan, hasSlow: false).pass
        var best: Double?
        // The ratio test: each error comes from the canary with probability q0 (its share of
        // the two versions' requests) when healthy; the expected gain per error is −KL(q0‖q1).
        let q0 = w / (w + baseShare)
        if p > 0, q0 < 1 {
            let q1 = errorRatio * q0 / (errorRatio * q0 + 1 - q0)
            let perError = q0 * Foundation.log(q1 / q0) + (1 - q0) * Foundation.log((1 - q1) / (1 - q0))
            let errorsPerSecond = r * (w + baseShare) * p
            if perError < 0 { best = -pass / (-perError * errorsPerSecond) }
        }
        // The bound test. Its "regressed" rate rests on a lower bound of the old version's rate,
        // looser while the old version has few requests: taken at half the time to the pass
        // (a few rounds, each time from the last estimate).
        if let gain0 = boundGain(errorRate: p, baseRequests: nil), gain0 > 0 {
            var secs = boundPassLevel / gain0 / (r * w)
            for _ in 0..<4 {
                guard let g = boundGain(errorRate: p, baseRequests: r * baseShare * secs / 2), g > 0 else { secs = .infinity; break }
                secs = boundPassLevel / g / (r * w)
            }
            if secs.isFinite { best = min(best ?? secs, secs) }
        }
        return best.map { max($0, Double(minRequests) / (r * w)) }
    }

    /// Expected seconds for a regressed canary (`errorRatio` × `p`, and at least +2δ) to be
    /// failed by the step test or the CUSUM, whichever is sooner; nil if never.
    public func expectedSecondsToFail(share w: Double, baseShare: Double, requestsPerSecond r: Double, errorRate p: Double, plan: RolloutPlan) -> Double? {
        guard w > 0, r > 0 else { return nil }
        let bad = min(1, max(errorRatio * p, p + 2 * minErrorRateIncrease))
        let q0 = w / (w + baseShare)
        guard q0 < 1 else { return nil }
        let q1 = errorRatio * q0 / (errorRatio * q0 + 1 - q0)
        let canaryErrors = r * w * bad, baseErrors = r * baseShare * p
        let fromCanary = canaryErrors / (canaryErrors + baseErrors)
        let perError = fromCanary * Foundation.log(q1 / q0) + (1 - fromCanary) * Foundation.log((1 - q1) / (1 - q0))
        guard perError > 0 else { return nil }
        let bound = min(bounds(plan, hasSlow: false).fail, cusumBound(plan))
        return bound / (perError * (canaryErrors + baseErrors))
    }
}

extension JudgeForecast {
    /// `200/s`, `200`, `12000/m`, `720000/h`: requests per second; nil if not such a number
    /// from 0.001 to 10,000,000 a second.
    public static func parseTraffic(_ text: String) -> Double? {
        var t = text.trimmingCharacters(in: .whitespaces).lowercased()
        var per = 1.0
        for (suffix, secs) in [("/s", 1.0), ("/m", 60.0), ("/min", 60.0), ("/h", 3600.0)] where t.hasSuffix(suffix) {
            t = String(t.dropLast(suffix.count)); per = secs
        }
        guard let v = Double(t), v.isFinite else { return nil }
        let r = v / per
        return (0.001...10_000_000).contains(r) ? r : nil
    }

    /// `0.4%` or `0.004`: a fraction from 0 to 0.5; nil otherwise.
    public static func parseRate(_ text: String) -> Double? {
        let t = text.trimmingCharacters(in: .whitespaces)
        let v = t.hasSuffix("%") ? Double(t.dropLast()).map { $0 / 100 } : Double(t)
        guard let v, v.isFinite, (0...0.5).contains(v) else { return nil }
        return v
    }

    /// The forecast's lines for `friday check` (indented under the plan), and a warning per
    /// step that cannot be decided in time, each with `file:line`, naming a plan that can.
    public func report(judge: CanaryJudge, plan: RolloutPlan, file: String, stepLines: [Int?], source: String) -> (lines: [String], warnings: [String]) {
        func d(_ x: Double?) -> String {
            guard let x else { return "never at this traffic" }
            return x > 30 * 86_400 ? "more than 30 days" : "~" + formatDuration(x.rounded(.up))
        }
        let rate = formatRate(requestsPerSecond)
        let errors = errorRateAssumed ? "the slowest error rate for this judge (\(percentText(errorRate)); give yours with --error-rate or expected_error_rate)"
            : "\(percentText(errorRate)) errors"
        var lines = ["judge at \(rate) (\(source)), \(errors):"]
        var warnings: [String] = []
        let regression = "regressed one (\(format1(judge.errorRatio))×, at least +\(percentText(2 * judge.minErrorRateIncrease)))"
        for st in steps {
            let pause = st.pause.map { "\(formatDuration($0)) + up to \(formatDuration(maxExtension))" } ?? "until promoted"
            lines.append("  step \(st.index + 1), \(st.weight)% (\(pause)): a healthy canary passes in \(d(st.pass)), a \(regression) fails in \(d(st.fail))"
                         + (st.tooSlow ? " — cannot be decided in time: \(heldText(st.heldChance ?? 1)) of healthy canaries would be held" : ""))
            guard st.tooSlow, let pauseSecs = st.pause else { continue }
            let at = stepLines.indices.contains(st.index) ? stepLines[st.index].map { ":\($0)" } ?? "" : ""
            var advice: [String] = []
            if let w = JudgeForecast.smallestDecidableWeight(judge: judge, plan: plan, requestsPerSecond: requestsPerSecond, errorRate: errorRate, pause: pauseSecs), w > st.weight {
                let rest = plan.steps.map(\.weight).filter { $0 > w }
                let steps = ([w] + rest).map { "\($0)%" }.joined(separator: " → ")
                advice.append(st.index == 0 ? "start at \(w)% (\(steps)), the smallest first step decided within this pause at this traffic"
                              : "make this step at least \(w)%, the smallest decided within this pause at this traffic")
            }
            let step = plan.steps[st.index]
            let share = JudgeForecast.candidateShare(step), rest = JudgeForecast.baseShare(step)
            if let minutes = (1...24 * 60).first(where: { m in
                judge.chanceUndecided(after: Double(m) * 60 + maxExtension, share: share, baseShare: rest, requestsPerSecond: requestsPerSecond,
                                      errorRate: errorRate, plan: plan) <= JudgeForecast.heldLimit
            }) {
                advice.append("give this step a pause of at least \(formatDuration(Double(minutes) * 60))")
            }
            if advice.isEmpty { advice.append("use fewer, larger steps, or raise min_error_rate_increase") }
            warnings.append("\(file)\(at): warning: rollout.step[\(st.index + 1)]: at \(rate) a healthy canary needs \(d(st.pass)) to pass at \(st.weight)%: "
                            + "\(heldText(st.heldChance ?? 1)) would still be undecided after its \(formatDuration(pauseSecs)) pause and max_extension \(formatDuration(maxExtension)) "
                            + "and be held for a person. "
                            + "A plan that can be decided: " + advice.joined(separator: "; or ") + ".")
        }
        return (lines, warnings)
    }

    func heldText(_ p: Double) -> String { p >= 0.995 ? "all" : "~\(percentText(p))" }

    func formatRate(_ r: Double) -> String {
        r >= 10 ? "\(SafeNumber.int(r.rounded()).grouped) req/s" : r >= 1 ? "\(format1(r)) req/s" : "\(format2(r * 60)) req/min"
    }
}

extension CanaryJudge {
    /// The chance that a healthy canary (error rate `p`, as the old version's) has passed
    /// neither route after `seconds`: for the ratio test, the normal approximation of its
    /// compound-Poisson statistic at that time above the pass bound; for the bound test, the
    /// Poisson chance of more errors than its statistic can absorb by then. The smaller of the
    /// two (either route passes the step).
    public func chanceUndecided(after seconds: Double, share w: Double, baseShare: Double, requestsPerSecond r: Double, errorRate p: Double,
                                plan: RolloutPlan) -> Double {
        guard w > 0, r > 0, seconds > 0 else { return 1 }
        let canaryRequests = r * w * seconds
        if canaryRequests < Double(minRequests) { return 1 }
        var ratio = 1.0
        let q0 = w / (w + baseShare)
        if p > 0, q0 < 1 {
            let q1 = errorRatio * q0 / (errorRatio * q0 + 1 - q0)
            let up = Foundation.log(q1 / q0), down = Foundation.log((1 - q1) / (1 - q0))
            let errors = r * (w + baseShare) * p * seconds
            let mean = errors * (q0 * up + (1 - q0) * down)
            let sd = (errors * (q0 * up * up + (1 - q0) * down * down)).squareRoot()
            let pass = bounds(plan, hasSlow: false).pass
            ratio = sd > 0 ? 0.5 * erfc((pass - mean) / sd / 2.0.squareRoot()) : (mean <= pass ? 0 : 1)
        }
        var bound = 1.0
        // The old version's lower bound at half the time (its requests by then).
        let nb = min(1e15, r * baseShare * seconds / 2)
        let low = CanaryJudge.anytimeLowerBound(errors: SafeNumber.int((p * nb).rounded()), requests: SafeNumber.int(nb.rounded()), level: boundLowerLevel)
        if let h = boundHypotheses(low: low, seen: p) {
            let perRequest = Foundation.log1p(-h.healthy) - Foundation.log1p(-h.regressed)
            let perError = perRequest - Foundation.log(h.healthy / h.regressed)
            let room = canaryRequests * perRequest - boundPassLevel
            if room >= 0 {
                // More than `room / perError` errors in `canaryRequests`: Poisson(n·p) above k.
                bound = poissonTail(above: SafeNumber.int(min(1e15, room / perError).rounded(.down)), mean: canaryRequests * p)
            }
        }
        return min(ratio, bound)
    }
}

/// P(X > k) for X ~ Poisson(mean): exact sums to a mean of 500, a normal approximation above.
public func poissonTail(above k: Int, mean m: Double) -> Double {
    guard k >= 0 else { return 1 }
    if m <= 0 { return 0 }
    if m > 500 { return 0.5 * erfc((Double(k) + 0.5 - m) / m.squareRoot() / 2.0.squareRoot()) }
    // Far above the mean the tail is below any double's resolution.
    if Double(k) > m + 40 * m.squareRoot() + 50 { return 0 }
    var term = Foundation.exp(-m), cdf = term
    if k > 0 { for i in 1...k { term *= m / Double(i); cdf += term; if cdf >= 1 { break } } }
    return max(0, 1 - cdf)
}
