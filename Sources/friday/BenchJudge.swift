import ArgumentParser
import Foundation
import FridayCore

/// `friday bench judge`: the scenario table. Each row runs seeded deploys through friday's
/// judge (the same `CanaryJudge.Accumulator` fold the engine uses, with the engine's rules:
/// judged every second whatever the deploy's state, a step moves on only on a pass, waits up
/// to `max_extension` for one, then is held) and through a Flagger-style fixed threshold
/// (canary success rate per 1-minute interval, one failed check reverts) calibrated to the
/// base rate, on the same traffic. Errors are drawn from an exact binomial.
struct BenchJudge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "judge", abstract: "Scenario table: friday's judge against a calibrated fixed threshold on the same seeded traffic.")
    @Option(help: "Seeded deploys per row.") var seeds = 2000
    @Option(help: "Only rows whose name contains this.") var only: String?
    @Option(help: "Override the judge's CUSUM threshold (to explore).") var cusum: Double?
    @Option(help: "Override β (to explore).") var beta: Double?

    func run() {
        var judge = CanaryJudge()
        if let cusum { judge.cusumThreshold = cusum }
        if let beta { judge.beta = beta }
        Plain.out("judge scenarios, \(seeds) seeded deploys per row; friday: α \(percentText(judge.alpha)) per deploy, β \(judge.beta), \(format1(judge.errorRatio))×, CUSUM h \(format1(judge.cusumThreshold)), min +\(percentText(judge.minErrorRateIncrease)); fixed: success rate per minute ≥ 1 − 1.5 × base")
        Plain.out("| scenario | friday: reverted | median s to revert | silent passes | held | promoted | median s to promote | check's forecast s | fixed: reverted | median s to revert | silent passes |")
        Plain.out("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        // For a late regression, "reverted" counts only reverts after it began; earlier ones are false (shown in brackets).
        for sc in JudgeScenario.table where only.map({ sc.name.contains($0) }) ?? true {
            var f = JudgeTally(), x = JudgeTally()
            f.onset = sc.onset; x.onset = sc.onset
            for seed in 1...UInt64(seeds) {
                let (a, b) = sc.run(seed: seed &* 7919 &+ UInt64(sc.name.count), judge: judge)
                f.add(a); x.add(b)
            }
            func pct(_ n: Int) -> String { String(format: "%.2f%%", 100 * Double(n) / Double(seeds)) }
            func med(_ t: [Double]) -> String { t.isEmpty ? "–" : String(format: "%.0f", median(t)) }
            func rev(_ t: JudgeTally) -> String { pct(t.reverted - t.early) + (t.early > 0 ? " (\(pct(t.early)) before onset)" : "") }
            let forecast = sc.forecastSeconds(judge: judge).map { String(format: "%.0f", $0) } ?? "held"
            Plain.out("| \(sc.name) | \(rev(f)) | \(med(f.times)) | \(pct(f.silentPasses)) | \(pct(f.held)) | \(pct(f.promoted)) | \(med(f.promotedTimes)) | \(forecast) | "
                      + "\(rev(x)) | \(med(x.times)) | \(pct(x.silentPasses)) |")
        }
    }
}


/// `friday bench benchmark`: how often benchmark mode's report names a faster candidate
/// that is not faster, watched every second for 30 minutes, and how soon it names one that
/// is; friday's confidence sequence on 30-second batches beside the fixed-horizon rule it
/// replaced, on the same seeded latency.
struct BenchBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "benchmark", abstract: "Benchmark mode's claims: false 'faster' reports when versions are alike, time to a true one.")
    @Option(help: "Seeded runs per row.") var seeds = 400
    @Option(help: "Only rows whose name contains this.") var only: String?

    func run() {
        Plain.out("benchmark mode, \(seeds) seeded runs per row, 30 minutes each, the report read every second; α 5% overall")
        Plain.out("| scenario | friday: claims | right | median s to a right claim | fixed: claims | right | median s to a right claim |")
        Plain.out("| --- | --- | --- | --- | --- | --- | --- |")
        for sc in BenchmarkScenario.table where only.map({ sc.name.contains($0) }) ?? true {
            let truth: String? = sc.speed.count > 1 && Set(sc.speed).count > 1 ? "cand\(sc.speed.indices.min { sc.speed[$0] < sc.speed[$1] }!)" : nil
            var claims = [0, 0], right = [0, 0]
            var times: [[Double]] = [[], []]
            for seed in 1...UInt64(seeds) {
                let (f, x) = sc.run(seed: seed &* 104_729 &+ UInt64(sc.name.count))
                for (k, c) in [f, x].enumerated() {
                    guard let (t, name) = c else { continue }
                    claims[k] += 1
                    if name == truth { right[k] += 1; times[k].append(Double(t)) }
                }
            }
            func pct(_ n: Int) -> String { String(format: "%.1f%%", 100 * Double(n) / Double(seeds)) }
            func med(_ t: [Double]) -> String { t.isEmpty ? "–" : String(format: "%.0f", median(t)) }
            Plain.out("| \(sc.name) | \(pct(claims[0])) | \(pct(right[0])) | \(med(times[0])) | \(pct(claims[1])) | \(pct(right[1])) | \(med(times[1])) |")
        }
    }
}

/// `friday bench fold`: what one judge evaluation of the current step costs (the engine
/// evaluates every tick, the errors pane every frame): the whole step's blocks folded through
/// `CanaryJudge.judge`, 0.4% errors and 1% slow requests on both versions at 5% of 5,000
/// req/s, with the bound test on (the default) and off (`min_error_rate_increase = 0`, which
/// also turns off the minimum-increase guard) alternately in one run.
struct BenchFold: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "fold", abstract: "The cost of one judge evaluation over a long step, with and without the bound test.")
    @Option(help: "Blocks (seconds of one step) per evaluation, comma-separated.") var blocks = "600,3600,36000"
    @Option(help: "Timed evaluations per setting and size.") var runs = 21

    func run() {
        let sizes = blocks.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }.filter { $0 > 0 && $0 <= 1_000_000 }
        Plain.out("one judge evaluation of a step, median of \(runs) runs each, the two settings alternating")
        Plain.out("| blocks in the step | with the bound test (ms) | without (ms) | ratio |")
        Plain.out("| --- | --- | --- | --- |")
        let plan = RolloutPlan.standard
        let on = CanaryJudge()
        var off = CanaryJudge()
        off.minErrorRateIncrease = 0
        for n in sizes {
            var rng = SeededGenerator(seed: 9)
            var step: [JudgeBlock] = []
            step.reserveCapacity(n)
            for t in 0..<n {
                let cn = poisson(&rng, 250), bn = poisson(&rng, 4750)
                step.append(JudgeBlock(at: Timestamp(seconds: Double(t)), canaryRequests: cn, canaryErrors: rng.binomial(cn, 0.004), baseRequests: bn,
                                       baseErrors: rng.binomial(bn, 0.004), canarySlow: rng.binomial(cn, 0.01), baseSlow: rng.binomial(bn, 0.01)))
            }
            var times: [[Double]] = [[], []]
            var sink = 0.0
            for _ in 0..<runs {
                for (i, judge) in [on, off].enumerated() {
                    let start = ContinuousClock.now
                    let r = judge.judge(blocks: step, plan: plan, stepWeight: 5, elapsed: Double(n))
                    times[i].append(seconds(ContinuousClock.now - start) * 1000)
                    sink += r.statistic
                }
            }
            let a = median(times[0]), b = median(times[1])
            Plain.out("| \(n.grouped) | \(String(format: "%.2f", a)) | \(String(format: "%.2f", b)) | \(String(format: "%.2f", a / max(b, 1e-9)))× |" + (sink.isNaN ? " " : ""))
        }
    }
}
