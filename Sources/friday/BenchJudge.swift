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
        Plain.out("| scenario | friday: reverted | median s to revert | silent passes | held | fixed: reverted | median s to revert | silent passes |")
        Plain.out("| --- | --- | --- | --- | --- | --- | --- | --- |")
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
            Plain.out("| \(sc.name) | \(rev(f)) | \(med(f.times)) | \(pct(f.silentPasses)) | \(pct(f.held)) | \(rev(x)) | \(med(x.times)) | \(pct(x.silentPasses)) |")
        }
    }
}

