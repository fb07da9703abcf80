import Foundation

/// Judges a canary step: a sequential probability ratio test on where errors come from,
/// and the p99 ratio against a limit.
///
/// With the canary's measured share of requests w, "no worse" says an error comes from the
/// canary with probability q0 = w; "k times worse" says q1 = k·w / (k·w + 1 − w). Each
/// canary error adds ln(q1/q0) to the log-likelihood ratio, each old-version error
/// ln((1−q1)/(1−q0)); the test fails at ln((1−β)/α) and passes at ln(β/(1−α)). Counts are
/// those of the current step, so the test restarts whenever the weights change. Latency
/// fails when the canary's p99 (request-weighted over the step) exceeds `latencyLimit`
/// times the old version's, once the canary has `minRequests`.
public struct CanaryJudge: Sendable, Equatable, Codable {
    /// What to do when a step fails.
    public enum FailAction: String, Sendable, Equatable, Codable { case revert, pause }

    /// Chance of failing a healthy canary (false alarm), e.g. 0.05.
    public var alpha: Double
    /// Chance of passing a canary that is `errorRatio` times worse (miss), e.g. 0.2.
    public var beta: Double
    /// The error-rate regression to catch: 2 means "twice the old version's error rate".
    public var errorRatio: Double
    /// Highest acceptable canary p99 as a multiple of the old version's.
    public var latencyLimit: Double
    /// Fewest canary requests in a step before a latency verdict, or a pass at the step's end.
    public var minRequests: Int
    public var onFail: FailAction

    public init(alpha: Double = 0.05, beta: Double = 0.2, errorRatio: Double = 2, latencyLimit: Double = 1.5,
                minRequests: Int = 200, onFail: FailAction = .revert) {
        self.alpha = alpha; self.beta = beta; self.errorRatio = errorRatio
        self.latencyLimit = latencyLimit; self.minRequests = minRequests; self.onFail = onFail
    }

    /// ln((1−β)/α): the statistic at which the canary fails.
    public var failBound: Double { Foundation.log((1 - beta) / alpha) }
    /// ln(β/(1−α)): the statistic at which the canary passes.
    public var passBound: Double { Foundation.log(beta / (1 - alpha)) }

    /// A verdict with everything behind it.
    public struct Result: Sendable, Equatable, Codable {
        public var verdict: Verdict
        public var summary: String
        /// The log-likelihood ratio so far.
        public var statistic: Double
        public var figures: [Figure]
        public init(verdict: Verdict, summary: String, statistic: Double, figures: [Figure]) {
            self.verdict = verdict; self.summary = summary; self.statistic = statistic; self.figures = figures
        }
    }

    /// The log-likelihood ratio for `canaryErrors` and `baseErrors` at canary share `w`.
    public func statistic(canaryErrors: Int, baseErrors: Int, share w: Double) -> Double {
        guard w > 0, w < 1 else { return 0 }
        let k = errorRatio
        let q0 = w, q1 = k * w / (k * w + 1 - w)
        return Double(canaryErrors) * Foundation.log(q1 / q0) + Double(baseErrors) * Foundation.log((1 - q1) / (1 - q0))
    }

    /// Judges counts directly (for tests and benchmarks).
    public func judge(canary: StepTotals, base: StepTotals, stepEnded: Bool = false, canaryName: String = "canary", baseName: String = "old") -> Result {
        let total = canary.requests + base.requests
        let w = total > 0 ? Double(canary.requests) / Double(total) : 0
        let llr = statistic(canaryErrors: canary.errors, baseErrors: base.errors, share: w)
        var figures = [
            Figure(name: "statistic", value: llr, limit: failBound),
            Figure(name: "pass bound", value: passBound),
            Figure(name: "canary share", value: w),
            Figure(name: "canary requests", value: Double(canary.requests), limit: Double(minRequests)),
            Figure(name: "canary errors", value: Double(canary.errors)),
            Figure(name: "old requests", value: Double(base.requests)),
            Figure(name: "old errors", value: Double(base.errors)),
        ]
        var ratio: Double?
        if let cp = canary.meanP99, let bp = base.meanP99, bp > 0 {
            ratio = cp / bp
            figures.append(Figure(name: "p99 ratio", value: cp / bp, limit: latencyLimit))
        }
        // Six decimals, as the event line keeps them, so a replay folds the same figures.
        figures = figures.map { Figure(name: $0.name, value: round6($0.value), limit: $0.limit.map(round6)) }
        let toward = "\(format1(llr)) of \(format1(failBound)) toward fail"
        if llr >= failBound {
            let cr = canary.requests > 0 ? Double(canary.errors) / Double(canary.requests) : 0
            let br = base.requests > 0 ? Double(base.errors) / Double(base.requests) : 0
            return Result(verdict: .fail, summary: "\(canaryName) errors \(percentText(cr)) vs \(percentText(br)): \(toward)", statistic: llr, figures: figures)
        }
        if let ratio, canary.requests >= minRequests, ratio > latencyLimit {
            return Result(verdict: .fail, summary: "\(canaryName) p99 \(format2(ratio))× \(baseName)'s, over the \(format1(latencyLimit))× limit", statistic: llr, figures: figures)
        }
        if canary.requests >= minRequests, llr <= passBound {
            return Result(verdict: .pass, summary: "no \(format1(errorRatio))× error regression: \(format1(llr)), pass at \(format1(passBound))", statistic: llr, figures: figures)
        }
        if stepEnded {
            if canary.requests < minRequests {
                return Result(verdict: .inconclusive, summary: "too little data: \(canary.requests) of \(minRequests) canary requests by the step's end", statistic: llr, figures: figures)
            }
            return Result(verdict: .pass, summary: "no regression detected by the step's end: \(toward)", statistic: llr, figures: figures)
        }
        return Result(verdict: .inconclusive, summary: toward, statistic: llr, figures: figures)
    }

    /// Judges the current step of a deploy; nil when no canary step is running.
    public func evaluate(_ s: DeployState, stepEnded: Bool = false) -> Result? {
        guard case .rolling = s.phase, s.stepIndex != nil else { return nil }
        let c = s.stepTotals[s.to.name] ?? StepTotals()
        let b = s.stepTotals[s.from.name] ?? StepTotals()
        return judge(canary: c, base: b, stepEnded: stepEnded, canaryName: s.to.name, baseName: s.from.name)
    }
}

/// Requests, errors and latency of one version since the current step began.
public struct StepTotals: Sendable, Equatable, Codable {
    public var requests = 0
    public var errors = 0
    /// Sum of p99 × requests, for a request-weighted mean.
    public var p99Weighted = 0.0
    public init(requests: Int = 0, errors: Int = 0, p99Weighted: Double = 0) {
        self.requests = requests; self.errors = errors; self.p99Weighted = p99Weighted
    }
    public var meanP99: Double? { requests > 0 ? p99Weighted / Double(requests) : nil }
    public mutating func add(_ s: MetricsSample) {
        requests += s.requests; errors += s.errors; p99Weighted += s.p99 * Double(s.requests)
    }
}

func round6(_ x: Double) -> Double { SafeNumber.finite((SafeNumber.finite(x) * 1_000_000).rounded() / 1_000_000) }
