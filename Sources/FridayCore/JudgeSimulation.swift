import Foundation

/// Counts of outcomes over many seeded deploys.
public struct JudgeTally: Sendable {
    public var reverted = 0, held = 0, silentPasses = 0, early = 0, promoted = 0
    public var onset = 0
    public var times: [Double] = []
    /// Seconds from the deploy's start to its promotion, for those promoted.
    public var promotedTimes: [Double] = []
    public init() {}
    public mutating func add(_ o: JudgeOutcome) {
        switch o {
        case let .reverted(t):
            reverted += 1
            // A revert before a late regression began is a false one.
            if t < 0 { early += 1 } else { times.append(t) }
        case .held: held += 1
        case let .promoted(silent, at):
            promoted += 1
            promotedTimes.append(at)
            if silent { silentPasses += 1 }
        }
    }
}

/// How one seeded deploy ended.
public enum JudgeOutcome: Sendable { case reverted(Double), held, promoted(silentlyBad: Bool, at: Double)
    public static func promoted(_ silent: Bool, _ at: Int) -> JudgeOutcome { .promoted(silentlyBad: silent, at: Double(at)) }
}

/// A seeded traffic model and a plan. `ratio(t)` is the canary's error multiple at second t
/// of the deploy (1 healthy); `base(t)` the old version's error rate; `share(t, w)` the
/// canary's share at step weight w; `missing` the chance a second's sample is lost.
public struct JudgeScenario: Sendable {
    public var name: String
    public var steps: [(weight: Int, seconds: Int, untilPromoted: Bool)]
    public var rps: Double = 1000
    public var base: @Sendable (Int) -> Double = { _ in 0.01 }
    public var ratio: @Sendable (Int) -> Double = { _ in 1 }
    public var share: @Sendable (Int, Double) -> Double = { _, w in w }
    public var missing = 0.0
    /// Slow requests (above the old version's p99): the old version's share, and the
    /// canary's share at second t (nil: the source counts none, errors only).
    public var slowBase: Double? = 0.01
    public var canarySlow: @Sendable (Int) -> Double = { _ in 0.01 }
    /// Times to revert are counted from this second (a regression that starts late).
    public var onset = 0
    /// The canary's error rate at second t, where it is not `ratio` × `base` (a regression
    /// of rare errors: the old rate plus a fixed amount).
    public var canaryRate: (@Sendable (Int) -> Double)?

    public static let standard: [(weight: Int, seconds: Int, untilPromoted: Bool)] = [(1, 60, false), (5, 60, false), (25, 120, true), (50, 60, false)]
    public static let tenPercent: [(weight: Int, seconds: Int, untilPromoted: Bool)] = [(10, 600, false)]

    public static var table: [JudgeScenario] {
        var rows: [JudgeScenario] = [
            JudgeScenario(name: "healthy, standard plan, 1000 req/s", steps: standard),
            JudgeScenario(name: "2x from the start, 10%, 1000 req/s", steps: tenPercent, ratio: { _ in 2 }),
            JudgeScenario(name: "2x from 300 s into a 10% step", steps: [(10, 900, false)], ratio: { $0 >= 300 ? 2 : 1 }, onset: 300),
            JudgeScenario(name: "5x from 300 s into a 10% step", steps: [(10, 900, false)], ratio: { $0 >= 300 ? 5 : 1 }, onset: 300),
            JudgeScenario(name: "shared incident (both 3x, 120 s), standard plan", steps: standard, base: { (60...180).contains($0) ? 0.03 : 0.01 }),
            JudgeScenario(name: "canary better (0.5x), standard plan", steps: standard, ratio: { _ in 0.5 }),
            JudgeScenario(name: "zero base errors, canary 1%, 10%", steps: tenPercent, base: { _ in 0 }, ratio: { _ in .infinity }),
            JudgeScenario(name: "shared bursts (5x for 10 s a minute), standard plan", steps: standard, base: { $0 % 60 < 10 ? 0.05 : 0.01 }),
            JudgeScenario(name: "split moving with shared errors (5%/15%), 10%", steps: tenPercent, base: { ($0 / 30) % 2 == 0 ? 0.03 : 0.01 },
                          share: { t, _ in (t / 30) % 2 == 0 ? 0.15 : 0.05 }),
            JudgeScenario(name: "healthy, 20% of samples missing, standard plan", steps: standard, missing: 0.2),
            JudgeScenario(name: "2x, 20% of samples missing, 10%", steps: tenPercent, ratio: { _ in 2 }, missing: 0.2),
            // Latency: a lognormal with σ 0.5 whose p99 grows by f puts 1 − Φ(2.326 − ln f / 0.5) of requests above the old p99.
            JudgeScenario(name: "p99 1.5x (slow share 1% → 6.5%), 10%", steps: tenPercent, canarySlow: { _ in 0.065 }),
            JudgeScenario(name: "p99 2x (slow share 1% → 17%), 10%", steps: tenPercent, canarySlow: { _ in 0.17 }),
            JudgeScenario(name: "p99 2x at 1% share, 1000 req/s", steps: [(1, 600, false)], canarySlow: { _ in 0.17 }),
            JudgeScenario(name: "healthy, errors only (no latency distribution), standard plan", steps: standard, slowBase: nil),
        ]
        // Rare and no errors, and little traffic (issue 23): healthy through the standard plan, and
        // the regression the judge is set to catch (2×, and at least +0.2 percentage points).
        for base in [0.0, 0.0002, 0.004] {
            for rps in [20.0, 200, 1000, 5000] {
                let label = base == 0 ? "0 errors" : "\(percentText(base)) errors"
                rows.append(JudgeScenario(name: "healthy, \(label), \(Int(rps)) req/s, standard plan", steps: standard, rps: rps, base: { _ in base }))
                let bad = max(2 * base, base + 0.002)
                rows.append(JudgeScenario(name: "regressed to \(percentText(bad)), \(label), \(Int(rps)) req/s, standard plan", steps: standard, rps: rps,
                                          base: { _ in base }, canaryRate: { _ in bad }))
            }
        }
        rows.append(JudgeScenario(name: "0.02% base errors, canary 1%, standard plan, 1000 req/s", steps: standard, base: { _ in 0.0002 }, canaryRate: { _ in 0.01 }))
        rows.append(JudgeScenario(name: "0 base errors, canary 1%, standard plan, 1000 req/s", steps: standard, base: { _ in 0 }, canaryRate: { _ in 0.01 }))
        for rps in [1.0, 10, 100] {
            for w in [1, 10] {
                rows.append(JudgeScenario(name: "healthy, \(Int(rps)) req/s at \(w)%", steps: [(w, 600, false)], rps: rps))
                rows.append(JudgeScenario(name: "2x, \(Int(rps)) req/s at \(w)%", steps: [(w, 600, false)], rps: rps, ratio: { _ in 2 }))
            }
        }
        return rows
    }

    /// The plan as the engine runs it.
    public var plan: RolloutPlan {
        RolloutPlan(steps: steps.map { RolloutStep(weight: $0.weight, pause: $0.untilPromoted ? .untilPromoted : .seconds(Double($0.seconds))) }
                    + [RolloutStep(weight: 100, pause: .seconds(0))])
    }

    /// What `friday check` forecasts for a healthy deploy through this plan at this traffic and
    /// base error rate: each step takes its pause or the expected time to a pass, whichever is
    /// longer (a person promotes a held step at its `seconds`); nil if a step is expected to be
    /// held (past its pause plus `maxExtension`).
    public func forecastSeconds(judge: CanaryJudge) -> Double? {
        let f = JudgeForecast.make(judge: judge, plan: plan, requestsPerSecond: rps, errorRate: base(0))
        var total = 0.0
        for (st, s) in zip(f.steps, steps) {
            if s.untilPromoted { total += Double(s.seconds); continue }
            if st.tooSlow { return nil }
            total += max(Double(s.seconds), st.pass ?? .infinity)
        }
        return total
    }

    /// One seeded deploy judged both ways on the same traffic.
    public func run(seed: UInt64, judge: CanaryJudge) -> (friday: JudgeOutcome, fixed: JudgeOutcome) {
        var rng = SeededGenerator(seed: seed)
        let plan = self.plan
        let hasSlow = slowBase != nil
        let (failB, passB) = judge.bounds(plan, hasSlow: hasSlow)
        var fridayOutcome: JudgeOutcome?, fixedOutcome: JudgeOutcome?
        var t = 0
        var fixedStep = 0, fixedStepAt = 0
        var minuteReq = 0, minuteErr = 0
        var fridayStep = 0, fridayStepAt = 0
        var acc = CanaryJudge.Accumulator(hasSlow: hasSlow)
        var everBad = false
        let threshold = 1 - 1.5 * max(base(0), 0.001)
        while fridayOutcome == nil || fixedOutcome == nil, t < 4 * 3600 {
            // Which step each judge is at (they move at their own pace on the same traffic).
            let wF = fridayOutcome == nil && fridayStep < steps.count ? Double(steps[fridayStep].weight) / 100 : 0
            let wX = fixedOutcome == nil && fixedStep < steps.count ? Double(steps[fixedStep].weight) / 100 : 0
            let b = base(t), k = ratio(t)
            let cRate = canaryRate.map { min(1, $0(t)) } ?? (k.isInfinite ? 0.01 : min(1, b * k))
            if k > 1 || cRate > b * 1.2 + 1e-12 { everBad = true }
            let slowC = canarySlow(t)
            if let sb = slowBase, slowC > sb * 1.2 { everBad = true }
            let lost = missing > 0 && rng.unit() < missing
            for (w, isFriday) in [(wF, true), (wX, false)] where w > 0 {
                let n = poisson(&rng, rps)
                let cn = exactBinomial(&rng, n, share(t, w))
                let ce = exactBinomial(&rng, cn, cRate), be = exactBinomial(&rng, n - cn, b)
                if isFriday {
                    var blk = JudgeBlock(canaryRequests: cn, canaryErrors: ce, baseRequests: n - cn, baseErrors: be)
                    if let sb = slowBase { blk.canarySlow = exactBinomial(&rng, cn, slowC); blk.baseSlow = exactBinomial(&rng, n - cn, sb) }
                    if !lost { acc.add(blk, judge: judge, passBound: passB) }
                    if acc.failsOnErrors(judge, failBound: failB) || acc.failsOnLatency(judge, failBound: failB) { fridayOutcome = .reverted(Double(t - onset)); continue }
                    let age = t - fridayStepAt + 1
                    let st = steps[fridayStep]
                    if age >= st.seconds {
                        // The pause ran out (or a person promoted the held step): move on a pass, a human promote, or hold after the extension.
                        if acc.passed || st.untilPromoted {
                            fridayStep += 1; fridayStepAt = t + 1; acc = CanaryJudge.Accumulator(hasSlow: hasSlow)
                            if fridayStep == steps.count { fridayOutcome = .promoted(everBad, t + 1) }
                        } else if Double(age - st.seconds) >= judge.maxExtension {
                            fridayOutcome = .held
                        }
                    }
                } else {
                    if !lost { minuteReq += cn; minuteErr += ce }
                    if (t + 1) % 60 == 0 {
                        if minuteReq > 0, Double(minuteReq - minuteErr) / Double(minuteReq) < threshold { fixedOutcome = .reverted(Double(t - onset)); continue }
                        minuteReq = 0; minuteErr = 0
                    }
                    if t - fixedStepAt + 1 >= steps[fixedStep].seconds {
                        fixedStep += 1; fixedStepAt = t + 1
                        if fixedStep == steps.count { fixedOutcome = .promoted(everBad, t + 1) }
                    }
                }
            }
            t += 1
        }
        return (fridayOutcome ?? .held, fixedOutcome ?? .held)
    }
}

/// Requests in one second: Poisson with mean `mean` (exact for small means, normal above 500).
public func poisson(_ rng: inout SeededGenerator, _ mean: Double) -> Int {
    if mean > 500 { return max(0, Int((mean + mean.squareRoot() * rng.normal()).rounded())) }
    let limit = Foundation.exp(-mean)
    var k = 0, p = 1.0
    repeat { k += 1; p *= rng.unit() } while p > limit
    return k - 1
}

/// An exact binomial draw by waiting times: O(n·min(p, 1−p)).
public func exactBinomial(_ rng: inout SeededGenerator, _ n: Int, _ p: Double) -> Int {
    if n <= 0 || p <= 0 { return 0 }
    if p >= 1 { return n }
    if p > 0.5 { return n - exactBinomial(&rng, n, 1 - p) }
    // log1p: for p below 1e-16, log(1 − p) is 0 and the gap would be infinite.
    let lq = Foundation.log1p(-p)
    var count = 0, pos = 0
    while true {
        let u = max(rng.unit(), 1e-300)
        // The gap compared as a double first: a huge one is past n, never an Int conversion trap.
        let gap = Foundation.log(u) / lq
        if !(gap < Double(n - pos)) { return count }
        pos += Int(gap) + 1
        if pos > n { return count }
        count += 1
    }
}

/// Seeded latency for benchmark mode: a baseline and candidates whose per-second p50 and
/// p99 wander around their own means, as a source reports them: each second's own value,
/// or smoothed over the last `smoothing` seconds (HAProxy's `rtime` is a mean of the last
/// 1,024 requests, a PromQL quantile a rate window). One run watches the report every
/// second, as the engine does, and notes the first "faster" claim.
public struct BenchmarkScenario: Sendable {
    public var name: String
    /// Each version's true mean p50 relative to the baseline's (1 for the baseline).
    public var speed: [Double]
    /// Seconds a reported value averages over (1: independent seconds).
    public var smoothing = 1
    /// The per-second values' spread, relative to their mean (p99 twice it).
    public var noise = 0.15
    public var seconds = 1800

    public init(name: String, speed: [Double], smoothing: Int = 1, noise: Double = 0.15, seconds: Int = 1800) {
        self.name = name; self.speed = speed; self.smoothing = smoothing; self.noise = noise; self.seconds = seconds
    }

    /// The first claim each rule made: (second, version named faster at p50 or p99), nil if none.
    /// `friday` is `Benchmark.evaluate`; `fixed` the rule it replaced (per-second values, a
    /// fixed-horizon normal interval with Bonferroni's z, 30 s before anything is said).
    public func run(seed: UInt64) -> (friday: (Int, String)?, fixed: (Int, String)?) {
        var rng = SeededGenerator(seed: seed)
        let names = ["base"] + (1..<speed.count).map { "cand\($0)" }
        var s = DeployState()
        s.from = VersionRef(name: names[0], commit: "")
        s.to = VersionRef(name: names.count > 1 ? names[1] : "cand1", commit: "")
        let more = names.dropFirst(2).map { VersionRef(name: $0, commit: "") }
        s.plan = RolloutPlan(steps: [RolloutStep(weight: 50, pause: .untilPromoted)], moreCandidates: more.isEmpty ? nil : Array(more), benchmark: true)
        s.phase = .rolling
        s.stepIndex = 0
        s.latencyStats = [:]
        var history: [[(Double, Double)]] = Array(repeating: [], count: names.count)
        var fixed = Array(repeating: (n: 0.0, s50: 0.0, q50: 0.0, s99: 0.0, q99: 0.0), count: names.count)
        var fridayClaim: (Int, String)?, fixedClaim: (Int, String)?
        for t in 0..<seconds where fridayClaim == nil || fixedClaim == nil {
            for (i, v) in names.enumerated() {
                let mu = 40 * speed[i]
                let raw = (max(1, mu * (1 + noise * rng.normal())), max(1, 3 * mu * (1 + 2 * noise * rng.normal())))
                history[i].append(raw)
                if history[i].count > smoothing { history[i].removeFirst(history[i].count - smoothing) }
                let k = Double(history[i].count)
                let p50 = history[i].reduce(0) { $0 + $1.0 } / k, p99 = history[i].reduce(0) { $0 + $1.1 } / k
                s.latencyStats![v, default: LatencyStats()].add(MetricsSample(version: v, requests: 100, errors: 0, p50: p50, p99: p99, window: 1))
                fixed[i].n += 1; fixed[i].s50 += p50; fixed[i].q50 += p50 * p50; fixed[i].s99 += p99; fixed[i].q99 += p99 * p99
            }
            if fridayClaim == nil, let b = Benchmark.evaluate(s), let name = b.metrics.compactMap(\.fastest).first { fridayClaim = (t + 1, name) }
            if fixedClaim == nil, t + 1 >= 30, let name = BenchmarkScenario.fixedHorizon(names, fixed) { fixedClaim = (t + 1, name) }
        }
        return (fridayClaim, fixedClaim)
    }

    /// The rule benchmark mode first shipped with: per-second means, their standard errors,
    /// a normal interval on the log ratio with Bonferroni's z over every pair at p50 and p99.
    static func fixedHorizon(_ names: [String], _ f: [(n: Double, s50: Double, q50: Double, s99: Double, q99: Double)]) -> String? {
        let pairs = names.count * (names.count - 1) / 2
        let z = normalQuantile(1 - 0.05 / Double(2 * max(1, pairs * 2)))
        let candidates = Array(names.dropFirst())
        for high in [false, true] {
            func ms(_ i: Int) -> (Double, Double) {
                let n = f[i].n, sum = high ? f[i].s99 : f[i].s50, sq = high ? f[i].q99 : f[i].q50
                let m = sum / n
                return (m, (max(0, (sq - n * m * m) / (n - 1)) / n).squareRoot())
            }
            func faster(_ a: Int, _ b: Int) -> Bool {
                let (x, y) = (ms(a), ms(b))
                guard x.0 < y.0 else { return false }
                let se = ((x.1 / x.0) * (x.1 / x.0) + (y.1 / y.0) * (y.1 / y.0)).squareRoot()
                return x.0 / y.0 * Foundation.exp(z * se) < 1
            }
            let rivals = candidates.count == 1 ? Array(names.indices) : Array(1..<names.count)
            if let w = rivals.first(where: { v in rivals.allSatisfy { $0 == v || faster(v, $0) } }), w > 0 { return names[w] }
        }
        return nil
    }

    public static var table: [BenchmarkScenario] {
        [
            BenchmarkScenario(name: "three versions alike, independent seconds", speed: [1, 1, 1]),
            BenchmarkScenario(name: "three versions alike, smoothed over 10 s (HAProxy rtime)", speed: [1, 1, 1], smoothing: 10),
            BenchmarkScenario(name: "three versions alike, smoothed over 30 s (a PromQL window)", speed: [1, 1, 1], smoothing: 30),
            BenchmarkScenario(name: "three versions alike, smoothed over 60 s (a PromQL [1m] window)", speed: [1, 1, 1], smoothing: 60),
            BenchmarkScenario(name: "two versions alike, smoothed over 10 s", speed: [1, 1], smoothing: 10),
            BenchmarkScenario(name: "cand2 10% faster, independent seconds", speed: [1, 1, 0.9]),
            BenchmarkScenario(name: "cand2 10% faster, smoothed over 10 s", speed: [1, 1, 0.9], smoothing: 10),
            BenchmarkScenario(name: "cand2 5% faster, smoothed over 10 s", speed: [1, 1, 0.95], smoothing: 10),
        ]
    }
}
