import Foundation

/// Judges a canary: a sequential test on where errors come from, judged block by block
/// against each block's own split, with one false-revert budget for the whole deploy and
/// Page's CUSUM beside it, so a regression that starts late is caught as fast as one
/// present from the start.
///
/// In each block (one metrics tick) with canary share of requests w, "no worse" says an
/// error comes from the canary with probability q0 = w; "k times worse" says
/// q1 = k·w / (k·w + 1 − w). The block adds c·ln(q1/q0) + b·ln((1−q1)/(1−q0)) for its c
/// canary and b old-version errors. Judging each block against its own share means a
/// split that moves, or an incident that raises both versions together, is never evidence
/// against the canary (Simpson's paradox cannot arise).
///
/// * The step test (Wald's SPRT) sums the step's blocks: fail at ln((1−β)/α_step), pass at
///   ln(β/(1−α_step)), where α_step is `alpha` (the chance of reverting a healthy *deploy*)
///   split over the plan's judged steps. Once passed, it stops spending.
/// * Page's CUSUM, C = max(0, C + block), alarms at `cusumThreshold`: it watches for the
///   whole step, passed or not, and does not let evidence for "healthy" pile up.
/// * A fail also needs the canary's error rate at least `minErrorRateIncrease` above the
///   old version's over the step, so a handful of errors at tiny volume is not a revert.
/// * A step passes only on evidence: at the end of its pause without a pass it is
///   extended (up to `maxExtension` seconds), then held as inconclusive with an estimate
///   of how much more traffic the test needs.
/// * Latency fails when the canary's p99 (request-weighted over the step) exceeds
///   `latencyLimit` times the old version's, once the canary has `minRequests`.
public struct CanaryJudge: Sendable, Equatable, Codable {
    /// What to do when a step fails.
    public enum FailAction: String, Sendable, Equatable, Codable { case revert, pause }

    /// Chance of reverting a healthy deploy (false alarm), spent across the judged steps.
    public var alpha: Double
    /// Chance of passing a step whose canary is `errorRatio` times worse (miss), e.g. 0.2.
    public var beta: Double
    /// The error-rate regression to catch: 2 means "twice the old version's error rate".
    public var errorRatio: Double
    /// Highest acceptable canary p99 as a multiple of the old version's.
    public var latencyLimit: Double
    /// Fewest canary requests in a step before a latency verdict or a pass.
    public var minRequests: Int
    public var onFail: FailAction
    /// Smallest error-rate increase (a fraction: 0.001 is 0.1 percentage points) that can fail a canary.
    public var minErrorRateIncrease: Double
    /// Page's CUSUM alarm threshold.
    public var cusumThreshold: Double
    /// How long a step whose pause ran out waits for evidence before it is held (seconds).
    public var maxExtension: Double
    /// Judge latency on a mean (HAProxy's `rtime`) by the p99 ratio: only when the file says so.
    public var judgeMeanLatency = false

    public init(alpha: Double = 0.01, beta: Double = 0.05, errorRatio: Double = 2, latencyLimit: Double = 1.5,
                minRequests: Int = 200, onFail: FailAction = .revert, minErrorRateIncrease: Double = 0.001,
                cusumThreshold: Double = 11, maxExtension: Double = 600) {
        self.alpha = alpha; self.beta = beta; self.errorRatio = errorRatio
        self.latencyLimit = latencyLimit; self.minRequests = minRequests; self.onFail = onFail
        self.minErrorRateIncrease = minErrorRateIncrease; self.cusumThreshold = cusumThreshold; self.maxExtension = maxExtension
    }

    /// The share of the deploy's budget one step spends: `alpha` over the judged steps (0 < weight < 100)
    /// and, with several candidates, over the candidates.
    public func stepAlpha(_ plan: RolloutPlan) -> Double {
        let judged = plan.steps.filter { $0.weight > 0 && $0.weight < 100 }.count
        // Shared among the candidates too: each candidate against the baseline is a comparison.
        return alpha / Double(max(1, judged) * plan.comparisons)
    }

    /// ln((1−β)/α): the statistic at which the canary fails, for a step's α.
    public func failBound(stepAlpha a: Double) -> Double { Foundation.log((1 - beta) / a) }
    /// ln(β/(1−α)): the statistic at which the canary passes the ratio test. (A step's errors
    /// also pass by the bound test, which has β/2 of its own: a regression passes either with
    /// chance at most 1.5β. Halving the ratio test's β too made its steps last longer and the
    /// CUSUM's false alarms over them rose: 1.4% of healthy deploys through a shared incident.)
    public func passBound(stepAlpha a: Double) -> Double { Foundation.log(beta / (1 - a)) }
    /// The bounds with the whole budget on one step (for a single comparison).
    public var failBound: Double { failBound(stepAlpha: alpha) }
    public var passBound: Double { passBound(stepAlpha: alpha) }

    /// A verdict with everything behind it.
    public struct Result: Sendable, Equatable, Codable {
        public var verdict: Verdict
        public var summary: String
        /// The step test's log-likelihood ratio so far.
        public var statistic: Double
        public var figures: [Figure]
        /// The CUSUM now, and the bounds in force, for the gauge.
        public var cusum: Double = 0
        public var failBound: Double = 0
        public var passBound: Double = 0
        /// The step test has passed (only the CUSUM watches now).
        public var passed = false
        public init(verdict: Verdict, summary: String, statistic: Double, figures: [Figure]) {
            self.verdict = verdict; self.summary = summary; self.statistic = statistic; self.figures = figures
        }
    }

    /// One block's log-likelihood ratio: `canaryErrors` and `baseErrors` at canary share `w`.
    public func statistic(canaryErrors: Int, baseErrors: Int, share w: Double) -> Double {
        guard w > 0, w < 1 else { return 0 }
        let k = errorRatio
        let q0 = w, q1 = k * w / (k * w + 1 - w)
        return Double(canaryErrors) * Foundation.log(q1 / q0) + Double(baseErrors) * Foundation.log((1 - q1) / (1 - q0))
    }

    /// One count test (errors, or slow requests): the step's SPRT and Page's CUSUM, the bound
    /// test on the canary's own count, and the counts.
    public struct CountTest: Sendable, Equatable {
        /// How a count test passed.
        public enum PassRoute: String, Sendable, Equatable {
            /// The ratio test: the counts split between the versions as a healthy canary's would.
            case ratio
            /// The bound test: the canary's own rate shown below the regression to catch.
            case bound
        }
        public var llr = 0.0
        public var cusum = 0.0
        public var passed = false
        public var passedBy: PassRoute?
        /// The bound test's log e-value (see `CanaryJudge.boundHypotheses`), and the rate it
        /// showed the canary below when it passed.
        public var logE = 0.0
        public var shownBelow: Double?
        public var canary = (n: 0, k: 0)
        public var base = (n: 0, k: 0)
        /// Counts since the CUSUM last stood at 0: the stretch its alarm is about, its blocks
        /// and the time of its first block.
        public var runCanary = (n: 0, k: 0)
        public var runBase = (n: 0, k: 0)
        public var runBlocks = 0
        public var runStart: Timestamp?
        /// The old version's lower bound, kept while its errors stay `k` and its requests
        /// at most `upTo` (computed at `upTo`: for a fixed count the bound only falls as
        /// requests grow, so it stays a bound; recomputed each 1% of requests).
        var lowerBound: (k: Int, upTo: Int, low: Double)?
        /// The highest `regressed` rate the bound test has tested the canary against this step.
        public var regressedMax: Double?
        public init() {}
        public static func == (a: CountTest, b: CountTest) -> Bool {
            a.llr == b.llr && a.cusum == b.cusum && a.passed == b.passed && a.canary == b.canary && a.base == b.base
                && a.runCanary == b.runCanary && a.runBase == b.runBase && a.passedBy == b.passedBy && a.logE == b.logE
                && a.shownBelow == b.shownBelow && a.runBlocks == b.runBlocks && a.runStart == b.runStart && a.regressedMax == b.regressedMax
        }

        public mutating func add(canary cn: Int, _ ck: Int, base bn: Int, _ bk: Int, judge: CanaryJudge, passBound: Double, minRequests: Int,
                                 at: Timestamp? = nil) {
            let total = cn + bn
            let d = total > 0 ? judge.statistic(canaryErrors: ck, baseErrors: bk, share: Double(cn) / Double(total)) : 0
            // The bound test's hypotheses, from the old version's counts before this block
            // (so they are fixed before any of the block's requests, whatever links the two
            // versions within a block).
            let h = !passed && cn > 0 ? boundHypotheses(judge) : nil
            canary.n += cn; canary.k += ck; base.n += bn; base.k += bk
            cusum = max(0, cusum + d)
            if cusum == 0 {
                runCanary = (0, 0); runBase = (0, 0); runBlocks = 0; runStart = nil
            } else {
                if runBlocks == 0 { runStart = at }
                runCanary.n += cn; runCanary.k += ck; runBase.n += bn; runBase.k += bk; runBlocks += 1
            }
            if !passed {
                llr += d
                // The bound test: this block's canary requests against the two hypotheses, so
                // the product of the blocks' likelihood ratios is a test supermartingale under
                // "the canary is a regression" and may be watched every second (Ville's inequality).
                if let h {
                    logE += Double(ck) * Foundation.log(h.healthy / h.regressed)
                        + Double(cn - ck) * (Foundation.log1p(-h.healthy) - Foundation.log1p(-h.regressed))
                    // What a pass shows: the canary below the highest threshold it was tested against.
                    regressedMax = max(regressedMax ?? 0, h.regressed)
                    if logE >= judge.boundPassLevel, canary.n >= minRequests { passed = true; passedBy = .bound; shownBelow = regressedMax }
                }
                if !passed, llr <= passBound, canary.n >= minRequests { passed = true; passedBy = .ratio }
            }
        }

        /// The bound test's hypotheses from the old version's counts so far. Its lower bound is
        /// kept while the old version's requests stay within `upTo` and its errors have not
        /// grown by more than 1%: the bound falls as requests grow at a fixed count (so it is
        /// computed at `upTo`) and rises with the count (so an older, smaller count still gives
        /// a bound).
        mutating func boundHypotheses(_ judge: CanaryJudge) -> (healthy: Double, regressed: Double)? {
            guard judge.minErrorRateIncrease >= 1e-9 else { return nil }
            if let c = lowerBound, base.k >= c.k, base.k <= c.k + c.k / 100, base.n <= c.upTo {} else {
                let upTo = base.n + base.n / 100 + 1
                lowerBound = (base.k, upTo, CanaryJudge.anytimeLowerBound(errors: base.k, requests: upTo, level: judge.boundLowerLevel))
            }
            return judge.boundHypotheses(low: lowerBound?.low ?? 0, baseErrors: base.k, baseRequests: base.n)
        }

        public var canaryRate: Double { canary.n > 0 ? Double(canary.k) / Double(canary.n) : 0 }
        public var baseRate: Double { base.n > 0 ? Double(base.k) / Double(base.n) : 0 }
        static func rate(_ x: (n: Int, k: Int)) -> Double { x.n > 0 ? Double(x.k) / Double(x.n) : 0 }

        /// Either test crossed, and the canary's rate is up by at least the minimum: over the
        /// step for the step test, over the CUSUM's current stretch for the CUSUM (a late
        /// regression is not diluted by the healthy minutes before it).
        public func fails(_ judge: CanaryJudge, failBound: Double, cusumBound: Double? = nil) -> Bool {
            failedBy(judge, failBound: failBound, cusumBound: cusumBound) != nil
        }

        /// Which test raised the alarm: the CUSUM (its stretch) before the step test (the step).
        public func failedBy(_ judge: CanaryJudge, failBound: Double, cusumBound: Double? = nil) -> FailRoute? {
            if cusum >= (cusumBound ?? judge.cusumThreshold), Self.rate(runCanary) - Self.rate(runBase) >= judge.minErrorRateIncrease { return .cusum }
            if !passed, llr >= failBound, canaryRate - baseRate >= judge.minErrorRateIncrease { return .step }
            return nil
        }

        /// The counts an alarm is about: the CUSUM's stretch, or the step.
        public func counts(_ route: FailRoute) -> (canary: (n: Int, k: Int), base: (n: Int, k: Int)) {
            route == .cusum ? (runCanary, runBase) : (canary, base)
        }
    }

    /// Which test failed a count.
    public enum FailRoute: Sendable, Equatable { case step, cusum }

    /// The bound test's level: it passes when its e-value reaches 1/(0.4β) (β/2 in all, of
    /// which 0.1β goes to the old version's lower bound), so a canary that is a regression
    /// passes it with probability at most β/2 however long it is watched.
    public var boundPassLevel: Double { Foundation.log(1 / (0.4 * beta)) }
    /// The level of the old version's lower bound in the bound test.
    var boundLowerLevel: Double { 0.1 * beta }

    /// The bound test's two hypotheses for the canary's rate, from the old version's counts:
    /// `regressed` is the least rate the judge is set to revert for, `L + max((k−1)·L, δ)`
    /// with L a lower bound on the old version's rate valid at every moment at once (level
    /// 0.1β) and k `errorRatio` (a rate within it is one the judge never fails: a fail needs
    /// both k× and +δ); `healthy` is the old version's own rate (at least δ/10, so one stray
    /// error costs ln 10 at most, and at most halfway to `regressed`). Nil when δ is 0.
    public func boundHypotheses(baseErrors k: Int, baseRequests n: Int) -> (healthy: Double, regressed: Double)? {
        boundHypotheses(low: CanaryJudge.anytimeLowerBound(errors: k, requests: n, level: boundLowerLevel), baseErrors: k, baseRequests: n)
    }

    /// The same from a lower bound already computed; nil where the test cannot be made: δ
    /// (practically) 0, or an old version failing so often that no rate is left above it.
    func boundHypotheses(low: Double, baseErrors k: Int, baseRequests n: Int) -> (healthy: Double, regressed: Double)? {
        boundHypotheses(low: low, seen: n > 0 ? Double(k) / Double(n) : 0)
    }

    /// The same with the old version's seen rate given (the forecast's expected rate).
    func boundHypotheses(low: Double, seen: Double) -> (healthy: Double, regressed: Double)? {
        let delta = minErrorRateIncrease
        guard delta >= 1e-9, low.isFinite, low >= 0 else { return nil }
        let regressed = min(0.999_999, low + max((errorRatio - 1) * low, delta))
        guard regressed > low else { return nil }
        let healthy = min(max(seen, delta / 10), low + (regressed - low) / 2)
        guard healthy > 0, healthy < regressed else { return nil }
        return (healthy, regressed)
    }

    /// A lower bound for a binomial rate from `errors` in `requests` that holds at every n at
    /// once with probability 1 − `level`: Robbins' beta-binomial mixture with a uniform prior,
    /// the smallest p with k·ln p + (n−k)·ln(1−p) ≥ ln B(k+1, n−k+1) + ln(level). Solved by
    /// Newton's method from below in ln p (the function is concave there, so every iterate
    /// stays below the root: a bound cut short is still a bound).
    public static func anytimeLowerBound(errors k: Int, requests n: Int, level: Double) -> Double {
        guard k > 0, n > 0, k <= n, level > 0, level < 1 else { return 0 }
        let kd = Double(k), rest = Double(n - k)
        let target = lgamma(kd + 1) + lgamma(rest + 1) - lgamma(Double(n) + 2) + Foundation.log(level)
        var u = target / kd - 1
        for _ in 0..<40 {
            let p = Foundation.exp(u)
            let g = kd * u + rest * Foundation.log1p(-p) - target
            if g > -1e-9 * max(1, Swift.abs(target)) { break }
            let slope = kd - rest * p / (1 - p)
            guard slope > 0 else { break }
            u -= g / slope
        }
        return max(0, min(Double(k) / Double(n), Foundation.exp(u)))
    }

    /// The step's tests and totals, folded block by block. The engine, the screen and
    /// `friday bench judge` all judge through this one fold. With slow-request counts
    /// (a latency distribution), errors and slow requests are two tests that share the
    /// step's budget (α/2 each).
    public struct Accumulator: Sendable, Equatable {
        public var errors = CountTest()
        public var slow = CountTest()
        public var hasSlow: Bool
        public var canary = StepTotals()
        public var base = StepTotals()
        public var blocks = 0
        public init(hasSlow: Bool = false) { self.hasSlow = hasSlow }

        public var llr: Double { errors.llr }
        public var cusum: Double { errors.cusum }
        /// The step has passed: errors, and slow requests where they are counted.
        public var passed: Bool { errors.passed && (!hasSlow || slow.passed) }

        public mutating func add(_ blk: JudgeBlock, judge: CanaryJudge, passBound: Double) {
            canary.requests += blk.canaryRequests; canary.errors += blk.canaryErrors
            base.requests += blk.baseRequests; base.errors += blk.baseErrors
            blocks += 1
            errors.add(canary: blk.canaryRequests, blk.canaryErrors, base: blk.baseRequests, blk.baseErrors, judge: judge, passBound: passBound,
                       minRequests: judge.minRequests, at: blk.at)
            if hasSlow, let cs = blk.canarySlow, let bs = blk.baseSlow {
                slow.add(canary: blk.canaryRequests, cs, base: blk.baseRequests, bs, judge: judge, passBound: passBound, minRequests: judge.minRequests,
                         at: blk.at)
            }
        }

        public func failsOnErrors(_ judge: CanaryJudge, failBound: Double, cusumBound: Double? = nil) -> Bool {
            errors.fails(judge, failBound: failBound, cusumBound: cusumBound)
        }
        public func failsOnLatency(_ judge: CanaryJudge, failBound: Double, cusumBound: Double? = nil) -> Bool {
            hasSlow && slow.fails(judge, failBound: failBound, cusumBound: cusumBound)
        }
    }

    /// The CUSUM's alarm for a plan: `cusumThreshold`, raised by ln(comparisons) when several
    /// candidates are each watched against the baseline. Page's CUSUM raises a false alarm
    /// after about e^h healthy blocks, so k of them at h + ln k raise about as many between
    /// them as one at h: the candidates share the CUSUM's false alarms as they share α.
    public func cusumBound(_ plan: RolloutPlan) -> Double {
        cusumThreshold + Foundation.log(Double(max(1, plan.comparisons)))
    }

    /// The bounds for a step: the step's share of the budget, halved when slow requests are a second test.
    public func bounds(_ plan: RolloutPlan, hasSlow: Bool) -> (fail: Double, pass: Double) {
        let a = stepAlpha(plan) / (hasSlow ? 2 : 1)
        return (failBound(stepAlpha: a), passBound(stepAlpha: a))
    }

    /// Judges one step's blocks. `elapsed` is the step's age in seconds, `extendedFor` how
    /// long it has run past its pause (nil while the pause runs).
    public func judge(blocks: [JudgeBlock], plan: RolloutPlan, stepWeight: Int, elapsed: Double, extendedFor: Double? = nil,
                      canaryName: String = "canary", baseName: String = "old", p99: (canary: Double?, base: Double?) = (nil, nil),
                      latencyIsMean: Bool = false, failAction: String? = nil) -> Result {
        let hasSlow = !blocks.isEmpty && blocks.allSatisfy(\.hasSlow)
        let (failB, passB) = bounds(plan, hasSlow: hasSlow)
        let cusumB = cusumBound(plan)
        var acc = Accumulator(hasSlow: hasSlow)
        for blk in blocks { acc.add(blk, judge: self, passBound: passB) }
        let (llr, cusum, c, b) = (acc.llr, acc.cusum, acc.canary, acc.base)
        let share = c.requests + b.requests > 0 ? Double(c.requests) / Double(c.requests + b.requests) : 0
        var figures = [
            Figure(name: "statistic", value: llr, limit: failB),
            Figure(name: "pass bound", value: passB),
            Figure(name: "cusum", value: cusum, limit: cusumB),
            Figure(name: "canary share", value: share),
            Figure(name: "canary requests", value: Double(c.requests), limit: Double(minRequests)),
            Figure(name: "canary errors", value: Double(c.errors)),
            Figure(name: "old requests", value: Double(b.requests)),
            Figure(name: "old errors", value: Double(b.errors)),
            Figure(name: "seconds", value: elapsed),
            Figure(name: "bound e-value", value: acc.errors.logE, limit: boundPassLevel),
        ]
        if hasSlow {
            figures.append(Figure(name: "slow statistic", value: acc.slow.llr, limit: failB))
            figures.append(Figure(name: "slow cusum", value: acc.slow.cusum, limit: cusumB))
            figures.append(Figure(name: "canary slow", value: Double(acc.slow.canary.k)))
            figures.append(Figure(name: "old slow", value: Double(acc.slow.base.k)))
            figures.append(Figure(name: "slow bound e-value", value: acc.slow.logE, limit: boundPassLevel))
        }
        var ratio: Double?
        if let cp = p99.canary, let bp = p99.base, bp > 0 {
            ratio = cp / bp
            figures.append(Figure(name: "p99 ratio", value: cp / bp, limit: latencyLimit))
        }
        // Six decimals, as the event line keeps them, so a replay folds the same figures.
        figures = figures.map { Figure(name: $0.name, value: round6($0.value), limit: $0.limit.map(round6)) }
        func result(_ v: Verdict, _ text: String) -> Result {
            var r = Result(verdict: v, summary: text, statistic: llr, figures: figures)
            r.cusum = cusum; r.failBound = failB; r.passBound = passB; r.passed = acc.passed
            return r
        }
        let now = blocks.last?.at
        let when = "after \(formatDuration(elapsed)) at \(stepWeight)%"
        // What a fail does, in words: one candidate of several is taken out, not reverted.
        let action = failAction ?? (onFail == .revert ? "reverted" : "held")
        /// "canary 20 in 1,000 requests (2.0%), old 90 in 9,000 (1.0%)"
        func counts(_ cn: (n: Int, k: Int), _ bn: (n: Int, k: Int)) -> String {
            "\(canaryName) \(cn.k.grouped) in \(requestsText(cn.n)) (\(percentText(CountTest.rate(cn)))), "
                + "\(baseName) \(bn.k.grouped) in \(bn.n.grouped) (\(percentText(CountTest.rate(bn))))"
        }
        /// A failed count test, in words: the counts of the stretch that raised the alarm,
        /// how many times the old rate, and how long after the rise it was caught.
        func failed(_ label: String, _ t: CountTest, _ route: FailRoute) -> String {
            let (cn, bn) = t.counts(route)
            let cr = CountTest.rate(cn), br = CountTest.rate(bn)
            let times = br > 0 ? "\(format1(cr / br))×" : "\(label) where \(baseName) has none"
            if route == .cusum {
                // The stretch since Page's CUSUM last stood at 0: where the rise is taken to begin.
                // Its blocks' span, one tick counted for the first (ticks taken from the stretch itself).
                let rise: Double
                if let start = t.runStart, let now, t.runBlocks > 1, now > start {
                    rise = (now - start) * Double(t.runBlocks) / Double(t.runBlocks - 1)
                } else {
                    rise = Double(max(1, t.runBlocks))
                }
                return "\(label): \(counts(cn, bn)) over the last \(formatDuration(rise)), the stretch that raised the alarm: \(times) — "
                    + "\(action) \(formatDuration(rise)) after it began (\(formatDuration(elapsed)) into the \(stepWeight)% step)"
            }
            return "\(label): \(counts(cn, bn)) over the step: \(times) — \(action) \(when)"
        }
        if let route = acc.errors.failedBy(self, failBound: failB, cusumBound: cusumB) {
            return result(.fail, failed("errors", acc.errors, route))
        }
        if acc.hasSlow, let route = acc.slow.failedBy(self, failBound: failB, cusumBound: cusumB) {
            return result(.fail, failed("slow requests", acc.slow, route))
        }
        if !hasSlow, let ratio, c.requests >= minRequests, ratio > latencyLimit, !latencyIsMean || judgeMeanLatency {
            let ms = p99.canary.map { "\(SafeNumber.int($0.rounded())) ms" } ?? "?"
            let bms = p99.base.map { "\(SafeNumber.int($0.rounded())) ms" } ?? "?"
            return result(.fail, "latency: \(canaryName) p99 \(ms) vs \(baseName) \(bms): \(format2(ratio))×, over the \(format1(latencyLimit))× limit — \(action) \(when)")
        }
        /// "95%", "97.5%"
        func confidence(_ x: Double) -> String {
            let p = (x * 1000).rounded() / 10
            return p == p.rounded() ? "\(SafeNumber.int(p))%" : "\(format1(p))%"
        }
        /// What a passed count test rested on, with that test's own confidence.
        func passedText(_ label: String, _ t: CountTest) -> String {
            if t.passedBy == .bound, let below = t.shownBelow {
                return "\(label): \(canaryName) \(t.canary.k.grouped) in \(requestsText(t.canary.n)), below \(percentText(below)) with "
                    + "\(confidence(1 - beta / 2)) confidence (\(baseName) \(percentText(t.baseRate)); a regression is \(format1(errorRatio))× "
                    + "and +\(percentText(minErrorRateIncrease)))"
            }
            return "\(label): \(canaryName) \(percentText(t.canaryRate)), \(baseName) \(percentText(t.baseRate)) "
                + "(\(t.canary.k.grouped) in \(requestsText(t.canary.n))), no \(format1(errorRatio))× regression with \(confidence(1 - beta)) confidence"
        }
        // Latency without slow-request counts: the p99 ratio, judged against its limit; a mean
        // (HAProxy's rtime) is only shown unless the file says to judge it.
        let p99Text = hasSlow ? "" : ratio.map { r in
            latencyIsMean && !judgeMeanLatency ? "; mean latency \(format2(r))× \(baseName)'s (not judged)"
                : "; p99 \(format2(r))× \(baseName)'s (limit \(format1(latencyLimit))×)"
        } ?? ""
        if acc.passed {
            let parts = [passedText("errors", acc.errors)] + (hasSlow ? [passedText("slow requests", acc.slow)] : [])
            return result(.pass, "passed \(when) on errors\(hasSlow ? " and latency" : ""): \(parts.joined(separator: "; "))\(p99Text) (still watching)")
        }
        // Still waiting: name the tests that wait, with what each has so far, and those passed.
        /// "v2.4.0 7 in 1,453 requests, 0.48%; v2.3.0 564 in 148,521, 0.38%"
        func sofar(_ t: CountTest) -> String {
            "\(canaryName) \(t.canary.k.grouped) in \(requestsText(t.canary.n)), \(percentText(t.canaryRate)); "
                + "\(baseName) \(t.base.k.grouped) in \(t.base.n.grouped), \(percentText(t.baseRate))"
        }
        var waiting: [String] = [], passedNames: [String] = []
        if acc.errors.passed { passedNames.append("errors") } else { waiting.append("errors (\(sofar(acc.errors)))") }
        if hasSlow {
            if acc.slow.passed { passedNames.append("latency") } else { waiting.append("latency (slow requests: \(sofar(acc.slow)))") }
        }
        let need = needs(acc, blocks: blocks.count, passBound: passB)
        let body = "waiting on " + waiting.joined(separator: " and ") + (passedNames.isEmpty ? "" : "; \(passedNames.joined(separator: " and ")) passed")
            + "; \(need)"
        if let extendedFor {
            let left = max(0, maxExtension - extendedFor)
            let text = "no verdict yet \(when), \(body)"
            return result(.inconclusive, left > 0 ? "\(text) (the step waits up to \(formatDuration(left)) more)" : text)
        }
        return result(.inconclusive, "sampling, \(body)")
    }

    /// Seconds until a count test that has not passed is expected to, at the traffic and
    /// rates seen so far: the sooner of its two routes (the ratio test's drift per block, the
    /// bound test's expected gain per canary request at the canary's own rate); nil when
    /// neither is moving toward a pass.
    public func secondsToPass(_ t: CountTest, blocks n: Int, passBound: Double) -> Double? {
        guard n >= 5, !t.passed else { return nil }
        var best: Double?
        let perBlock = t.llr / Double(n)
        if perBlock < 0, t.llr > passBound { best = (t.llr - passBound) / -perBlock }
        let perSecond = Double(t.canary.n) / Double(n)
        if perSecond > 0, let h = boundHypotheses(baseErrors: t.base.k, baseRequests: t.base.n) {
            let p = t.canaryRate
            let gain = p * Foundation.log(h.healthy / h.regressed) + (1 - p) * (Foundation.log1p(-h.healthy) - Foundation.log1p(-h.regressed))
            if gain > 0 {
                let secs = max(0, boundPassLevel - t.logE) / gain / perSecond
                best = min(best ?? secs, secs)
            }
        }
        // A pass also needs the minimum canary requests.
        if perSecond > 0, t.canary.n < minRequests, let b = best { best = max(b, Double(minRequests - t.canary.n) / perSecond) }
        return best
    }

    /// What the step still needs, in words, naming the tests that wait.
    func needs(_ acc: Accumulator, blocks n: Int, passBound: Double) -> String {
        var tests: [(String, CountTest)] = []
        if !acc.errors.passed { tests.append(("errors", acc.errors)) }
        if acc.hasSlow, !acc.slow.passed { tests.append(("latency", acc.slow)) }
        var parts: [String] = []
        if acc.canary.requests < minRequests { parts.append("needs \((minRequests - acc.canary.requests).grouped) more canary requests") }
        guard n >= 5 else { return parts.isEmpty ? "the test needs more traffic" : parts.joined(separator: "; ") }
        let perSecond = Double(acc.canary.requests) / Double(n)
        var stalled: [String] = []
        var longest: Double?
        for (name, t) in tests {
            if let secs = secondsToPass(t, blocks: n, passBound: passBound) { longest = max(longest ?? 0, secs) } else { stalled.append(name) }
        }
        if let longest, stalled.isEmpty {
            parts.append("a pass is about \(formatDuration(longest)) away at this traffic (~\(SafeNumber.int((longest * perSecond).rounded()).grouped) more canary requests)")
        } else if !stalled.isEmpty {
            parts.append("the \(stalled.joined(separator: " and ")) test\(stalled.count == 1 ? " is" : "s are") not moving toward a pass at this traffic")
        }
        return parts.isEmpty ? "the test needs more traffic" : parts.joined(separator: "; ")
    }

    /// Judges pooled counts as one block (for tests and simple comparisons).
    public func judge(canary: StepTotals, base: StepTotals, stepEnded: Bool = false, canaryName: String = "canary", baseName: String = "old") -> Result {
        let plan = RolloutPlan(steps: [RolloutStep(weight: 10, pause: .seconds(0)), RolloutStep(weight: 100, pause: .seconds(0))])
        return judge(blocks: [JudgeBlock(canaryRequests: canary.requests, canaryErrors: canary.errors, baseRequests: base.requests, baseErrors: base.errors)],
                     plan: plan, stepWeight: 10, elapsed: 0, extendedFor: stepEnded ? maxExtension : nil, canaryName: canaryName, baseName: baseName,
                     p99: (canary.meanP99, base.meanP99))
    }

    /// Judges the current step of a deploy; nil when no canary step takes traffic.
    public func evaluate(_ s: DeployState, now: Timestamp? = nil) -> Result? {
        guard case .rolling = s.phase, let i = s.stepIndex, i < s.plan.steps.count, s.plan.steps[i].weight > 0 else { return nil }
        let t = now ?? s.lastEventAt ?? Timestamp(seconds: 0)
        let elapsed = max(0, t - (s.stepStartedAt ?? t))
        let c = s.stepTotals[s.to.name] ?? StepTotals()
        let b = s.stepTotals[s.from.name] ?? StepTotals()
        if s.plan.isBenchmark {
            // Benchmark mode measures latency instead of judging it: errors alone can fail.
            return judge(blocks: s.stepBlocks.map(\.withoutSlow), plan: s.plan, stepWeight: s.plan.steps[i].weight, elapsed: elapsed,
                         extendedFor: s.extendedFor(at: t), canaryName: s.to.name, baseName: s.from.name, latencyIsMean: s.latencyIsMean)
        }
        return judge(blocks: s.stepBlocks, plan: s.plan, stepWeight: s.plan.steps[i].weight, elapsed: elapsed, extendedFor: s.extendedFor(at: t),
                     canaryName: s.to.name, baseName: s.from.name, p99: (c.meanP99, b.meanP99), latencyIsMean: s.latencyIsMean)
    }
}

/// One metrics tick of the current step: each side's requests and errors, judged against
/// the block's own split.
public struct JudgeBlock: Sendable, Equatable, Codable {
    public var at: Timestamp?
    public var canaryRequests: Int
    public var canaryErrors: Int
    public var baseRequests: Int
    public var baseErrors: Int
    /// Slow requests on each side, where the source counts them.
    public var canarySlow: Int?
    public var baseSlow: Int?
    public init(at: Timestamp? = nil, canaryRequests: Int = 0, canaryErrors: Int = 0, baseRequests: Int = 0, baseErrors: Int = 0,
                canarySlow: Int? = nil, baseSlow: Int? = nil) {
        self.at = at; self.canaryRequests = canaryRequests; self.canaryErrors = canaryErrors
        self.baseRequests = baseRequests; self.baseErrors = baseErrors; self.canarySlow = canarySlow; self.baseSlow = baseSlow
    }
    public var hasSlow: Bool { canarySlow != nil && baseSlow != nil }
    /// The tick without its slow-request counts (latency not judged).
    public var withoutSlow: JudgeBlock { var b = self; b.canarySlow = nil; b.baseSlow = nil; return b }
}

extension JudgeBlock {
    /// Written as one array `[at, canaryRequests, canaryErrors, baseRequests, baseErrors,
    /// canarySlow, baseSlow]` (a long step has tens of thousands of blocks: a snapshot sent to
    /// an attaching dashboard is a third the size and three times quicker than with keys).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.unkeyedContainer()
        try c.encode(at?.seconds)
        try c.encode(canaryRequests); try c.encode(canaryErrors)
        try c.encode(baseRequests); try c.encode(baseErrors)
        try c.encode(canarySlow); try c.encode(baseSlow)
    }

    public init(from decoder: any Decoder) throws {
        var c = try decoder.unkeyedContainer()
        let at = try c.decode(Double?.self)
        self.init(at: at.map { Timestamp(seconds: $0) }, canaryRequests: try c.decode(Int.self), canaryErrors: try c.decode(Int.self),
                  baseRequests: try c.decode(Int.self), baseErrors: try c.decode(Int.self),
                  canarySlow: try c.decode(Int?.self), baseSlow: try c.decode(Int?.self))
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

extension Int {
    /// `47,003`
    public var grouped: String {
        let digits = String(Swift.abs(self))
        var out = ""
        for (i, ch) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(ch)
        }
        return (self < 0 ? "-" : "") + out
    }
}

func round6(_ x: Double) -> Double { SafeNumber.finite((SafeNumber.finite(x) * 1_000_000).rounded() / 1_000_000) }

// MARK: - several candidates

extension CanaryJudge {
    /// With several candidates: each candidate still in rotation and taking traffic in this
    /// step, judged against the baseline on its own ticks (each tick against that pair's own
    /// split), the deploy's false-revert budget shared among the comparisons. Empty for a
    /// two-version deploy or when no step takes traffic.
    public func evaluateCandidates(_ s: DeployState, now: Timestamp? = nil) -> [(version: String, result: Result)] {
        guard s.isMultiway, case .rolling = s.phase, let i = s.stepIndex, i < s.plan.steps.count else { return [] }
        let t = now ?? s.lastEventAt ?? Timestamp(seconds: 0)
        let elapsed = max(0, t - (s.stepStartedAt ?? t))
        let b = s.stepTotals[s.from.name] ?? StepTotals()
        let weights = RolloutLogic.weights(in: s, step: i)
        var out: [(String, Result)] = []
        for c in s.liveCandidates {
            let w = weights.first { $0.version == c.name }?.percent ?? 0
            guard w > 0 else { continue }
            let ct = s.stepTotals[c.name] ?? StepTotals()
            // Benchmark mode measures latency instead of judging it: errors alone can fail.
            let blocks = s.plan.isBenchmark ? (s.candidateBlocks?[c.name] ?? []).map(\.withoutSlow) : s.candidateBlocks?[c.name] ?? []
            let p99 = s.plan.isBenchmark ? (nil, nil) : (ct.meanP99, b.meanP99)
            out.append((c.name, judge(blocks: blocks, plan: s.plan, stepWeight: w, elapsed: elapsed,
                                      extendedFor: s.extendedFor(at: t), canaryName: c.name, baseName: s.from.name,
                                      p99: p99, latencyIsMean: s.latencyIsMean,
                                      failAction: onFail == .revert && s.liveCandidates.count > 1 ? "taken out" : nil)))
        }
        return out
    }

    /// Folds the candidates' verdicts into one for the step: a fail if any fails (the first),
    /// a pass when every one passes, else the first inconclusive.
    public static func combined(_ results: [(version: String, result: Result)]) -> (version: String, result: Result)? {
        if let f = results.first(where: { $0.result.verdict == .fail }) { return f }
        if let n = results.first(where: { $0.result.verdict != .pass }) { return n }
        guard let first = results.first else { return nil }
        var r = first.result
        r.summary = results.map { "\($0.version): \($0.result.summary)" }.joined(separator: "; ")
        return (first.version, r)
    }
}

/// Benchmark mode: which version is faster, at p50 and p99 where the source gives both
/// (else at the one latency it gives: HAProxy's mean, one PromQL query), with confidence
/// intervals that stay valid however long the benchmark is watched.
///
/// Each version's latency is averaged over batches of 30 seconds, with a standard error that
/// allows for sources that smooth over time (`LatencyStats`); two versions are compared by
/// the ratio of their means, with the delta method's standard error on the log ratio. The
/// report is read every second for as long as the step runs, so a fixed-horizon interval
/// (mean ± z·se) would be wrong far more often than it says:
/// the intervals are a normal-mixture confidence sequence instead (Robbins; Howard et al.
/// 2021), |estimate − truth| < se·√((n+ρ)/n · ln((n+ρ)/(ρα²))) at every n batches at once
/// with probability 1 − α. α is 5% shared by every claim the report can make (each pair of
/// versions at each figure, Bonferroni). "Faster" is said when an interval of the ratio
/// lies below 1. A version needs `minBatches` batches before anything is said.
public struct Benchmark: Sendable, Equatable {
    public struct Estimate: Sendable, Equatable {
        public var version: String
        public var mean: Double
        public var low: Double
        public var high: Double
    }
    public struct Ratio: Sendable, Equatable {
        public var faster: String
        public var slower: String
        /// faster's mean over slower's, with its interval; `shown` when the interval is below 1.
        public var ratio: Double
        public var low: Double
        public var high: Double
        public var shown: Bool { high < 1 }
    }
    /// One latency figure compared across the versions.
    public struct Metric: Sendable, Equatable {
        /// "p50", "p99", "latency" or "mean latency".
        public var label: String
        public var estimates: [Estimate] = []
        /// Every pair, the faster first.
        public var ratios: [Ratio] = []
        /// The candidate shown faster than every other candidate (than the baseline where
        /// there is one candidate), if any.
        public var fastest: String?
    }
    public var metrics: [Metric] = []
    /// Batches behind the report (the fewest of any version), and their seconds.
    public var batches = 0
    public var seconds = 0
    public var alpha = Benchmark.alpha

    public var p50: [Estimate] { metrics.first { $0.label == "p50" }?.estimates ?? [] }
    public var p99: [Estimate] { metrics.first { $0.label == "p99" }?.estimates ?? [] }
    public var p50Ratios: [Ratio] { metrics.first { $0.label == "p50" }?.ratios ?? [] }
    public var p99Ratios: [Ratio] { metrics.first { $0.label == "p99" }?.ratios ?? [] }
    public var fastestAtP50: String? { metrics.first { $0.label == "p50" }?.fastest }
    public var fastestAtP99: String? { metrics.first { $0.label == "p99" }?.fastest }
    /// What changes the report's conclusion (the engine records a verdict when it changes).
    public var conclusion: String { metrics.map { "\($0.label)=\($0.fastest ?? "-")" }.joined(separator: " ") }

    /// The fewest batches per version before anything is said (four minutes).
    public static let minBatches = 8
    public static var minSeconds: Int { minBatches * LatencyStats.batchSeconds }
    /// Overall error of the report's "faster" claims, however long it is watched.
    public static let alpha = 0.05
    /// The confidence sequence's ρ, in batches (it sets where the sequence is tightest
    /// relative to a fixed-horizon interval: early, as a benchmark is read from its start).
    public static let rho = 3.0

    /// The half-width of the confidence sequence after `n` batches, in standard errors. The
    /// sequence assumes the standard error known; it is estimated from `n` batches, so the
    /// width is widened by Student's t over the normal at the same level (n − 1 degrees of
    /// freedom), which matters in the first minutes.
    public static func width(batches n: Int, alpha a: Double) -> Double {
        let nd = Double(max(1, n)), r = rho
        let cs = ((nd + r) / nd * Foundation.log((nd + r) / (r * a * a))).squareRoot()
        let z = normalQuantile(1 - a / 2)
        return cs * studentQuantile(1 - a / 2, degrees: max(1, n - 1)) / z
    }

    /// The report for the current step, nil while a version has too few batches.
    public static func evaluate(_ s: DeployState) -> Benchmark? {
        guard let stats = s.latencyStats else { return nil }
        let candidates = s.liveCandidates.map(\.name)
        let versions = [s.from.name] + candidates
        let all = versions.compactMap { stats[$0] }
        guard all.count == versions.count, all.allSatisfy({ $0.batches >= minBatches }) else { return nil }
        var b = Benchmark()
        b.batches = all.map(\.batches).min() ?? 0
        b.seconds = b.batches * LatencyStats.batchSeconds
        let two = all.allSatisfy(\.twoFigures)
        let figures: [(label: String, high: Bool)] = two ? [("p50", false), ("p99", true)] : [(s.latencyIsMean ? "mean latency" : "latency", true)]
        let pairs = versions.count * (versions.count - 1) / 2
        // Every claim the report can make shares α.
        let a = alpha / Double(max(1, pairs * figures.count))
        for (label, high) in figures {
            var metric = Metric(label: label)
            var ms: [String: (mean: Double, se: Double, batches: Int)] = [:]
            for v in versions {
                guard let m = stats[v]!.mean(p99: high) else { return nil }
                ms[v] = m
                let w = width(batches: m.batches, alpha: a)
                metric.estimates.append(Estimate(version: v, mean: m.mean, low: max(0, m.mean - w * m.se), high: m.mean + w * m.se))
            }
            for i in versions.indices { for j in versions.indices where j > i {
                let (x, y) = (ms[versions[i]]!, ms[versions[j]]!)
                guard x.mean > 0, y.mean > 0 else { continue }
                let (f, sl, fm, sm) = x.mean <= y.mean ? (versions[i], versions[j], x, y) : (versions[j], versions[i], y, x)
                let r = fm.mean / sm.mean
                let se = ((fm.se / fm.mean) * (fm.se / fm.mean) + (sm.se / sm.mean) * (sm.se / sm.mean)).squareRoot()
                let w = width(batches: min(fm.batches, sm.batches), alpha: a)
                metric.ratios.append(Ratio(faster: f, slower: sl, ratio: r, low: r * exp(-w * se), high: r * exp(w * se)))
            } }
            // The candidate faster than every other candidate (one candidate: than the baseline).
            let rivals = candidates.count == 1 ? versions : candidates
            let fastest = rivals.first { v in rivals.allSatisfy { o in o == v || metric.ratios.contains { $0.faster == v && $0.slower == o && $0.shown } } }
            metric.fastest = fastest.flatMap { candidates.contains($0) ? $0 : nil }
            b.metrics.append(metric)
        }
        return b
    }

    /// One line for the team log and the verdict pane.
    public var summary: String {
        func list(_ e: [Estimate]) -> String { e.map { "\($0.version) \(ms($0.mean)) [\(ms($0.low)), \(ms($0.high))]" }.joined(separator: ", ") }
        func claim(_ m: Metric) -> String {
            guard let name = m.fastest else {
                let closest = m.ratios.filter { !$0.shown }.map { "\($0.faster) vs \($0.slower) \(format2($0.ratio))× [\(format2($0.low)), \(format2($0.high))]" }
                return "no candidate shown faster at \(m.label)" + (closest.isEmpty ? "" : " (\(closest.prefix(2).joined(separator: "; ")))")
            }
            let against = m.ratios.filter { $0.faster == name }.map { "\(format2($0.ratio))× \($0.slower) [\(format2($0.low)), \(format2($0.high))]" }
            return "\(name) is faster at \(m.label): " + against.joined(separator: ", ")
        }
        return "benchmark over \(formatDuration(Double(seconds))): \(metrics.map(claim).joined(separator: "; ")). "
            + metrics.map { "\($0.label) \(list($0.estimates))" }.joined(separator: "; ")
            + " (intervals \(SafeNumber.int(((1 - alpha) * 100).rounded()))% overall, valid however long it runs)"
    }

    public var verdict: Verdict { metrics.contains { $0.fastest != nil } ? .pass : .inconclusive }

    public var figures: [Figure] {
        var out: [Figure] = [Figure(name: "seconds", value: Double(seconds)), Figure(name: "batches", value: Double(batches))]
        for m in metrics {
            for e in m.estimates {
                out.append(Figure(name: "\(e.version) \(m.label) ms", value: round6(e.mean)))
                out.append(Figure(name: "\(e.version) \(m.label) low", value: round6(e.low)))
                out.append(Figure(name: "\(e.version) \(m.label) high", value: round6(e.high)))
            }
        }
        for m in metrics {
            for r in m.ratios { out.append(Figure(name: "\(r.faster)/\(r.slower) \(m.label)", value: round6(r.ratio), limit: round6(r.high))) }
        }
        return out
    }

    private func ms(_ x: Double) -> String { x >= 100 ? "\(SafeNumber.int(x.rounded())) ms" : "\(format1(x)) ms" }
}

/// Student's t quantile with `degrees` of freedom: the Cornish–Fisher expansion from the
/// normal quantile (at most 1.4% low at 5 degrees of freedom and α/2 = 0.00125; the benchmark
/// asks for at least 7).
public func studentQuantile(_ p: Double, degrees v: Int) -> Double {
    let z = normalQuantile(p), n = Double(max(1, v))
    let z3 = z * z * z, z5 = z3 * z * z, z7 = z5 * z * z
    return z + (z3 + z) / (4 * n) + (5 * z5 + 16 * z3 + 3 * z) / (96 * n * n) + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * n * n * n)
}

/// The standard normal quantile (Acklam's approximation, relative error under 1.2e-9).
public func normalQuantile(_ p: Double) -> Double {
    guard p > 0, p < 1 else { return p <= 0 ? -.infinity : .infinity }
    let a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00]
    let b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01]
    let c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00]
    let d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00]
    let low = 0.02425
    if p < low {
        let q = (-2 * log(p)).squareRoot()
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    }
    if p > 1 - low {
        let q = (-2 * log(1 - p)).squareRoot()
        return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    }
    let q = p - 0.5, r = q * q
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
}

/// "1 request", "4,360 requests".
func requestsText(_ n: Int) -> String { n == 1 ? "1 request" : "\(n.grouped) requests" }
