import FridayCore
import XCTest

/// Known answers worked out by hand from the formulas, and seeded runs for the error rates.
final class CanaryJudgeTests: XCTestCase {
    let judge = CanaryJudge(alpha: 0.05, beta: 0.2, errorRatio: 2, latencyLimit: 1.5, minRequests: 200)

    func testBoundsAndIncrements() {
        // fail at ln(0.8/0.05) = ln 16, pass at ln(0.2/0.95)
        XCTAssertEqual(judge.failBound, 2.772589, accuracy: 1e-6)
        XCTAssertEqual(judge.passBound, -1.558145, accuracy: 1e-6)
        // w = 0.1: q0 = 0.1, q1 = 0.2/1.1 = 0.181818; one canary error adds ln(1.81818) = 0.597837,
        // one old-version error adds ln(0.818182/0.9) = -0.0953102.
        XCTAssertEqual(judge.statistic(canaryErrors: 1, baseErrors: 0, share: 0.1), 0.597837, accuracy: 1e-6)
        XCTAssertEqual(judge.statistic(canaryErrors: 0, baseErrors: 1, share: 0.1), -0.0953102, accuracy: 1e-6)
    }

    func testATwofoldRegressionAtTenPercentIsCaught() {
        // 10 s of 1000 req/s at 10%: canary 1000 requests at 2% = 20 errors, old 9000 at 1% = 90.
        // 20 × 0.597837 − 90 × 0.0953102 = 11.9567 − 8.5779 = 3.3788 ≥ 2.7726: fail.
        let r = judge.judge(canary: StepTotals(requests: 1000, errors: 20), base: StepTotals(requests: 9000, errors: 90))
        XCTAssertEqual(r.verdict, .fail)
        XCTAssertEqual(r.statistic, 3.3788, accuracy: 1e-3)
        XCTAssertEqual(r.summary, "canary errors 2.0% vs 1.0%: 3.4 of 2.8 toward fail")
    }

    func testAnEqualErrorRateIsPassed() {
        // 10 × 0.597837 − 90 × 0.0953102 = 5.9784 − 8.5779 = −2.5995 ≤ −1.5581: pass.
        let r = judge.judge(canary: StepTotals(requests: 1000, errors: 10), base: StepTotals(requests: 9000, errors: 90))
        XCTAssertEqual(r.verdict, .pass)
        XCTAssertEqual(r.statistic, -2.5995, accuracy: 1e-3)
    }

    func testATinySampleIsInconclusive() {
        let r = judge.judge(canary: StepTotals(requests: 10, errors: 0), base: StepTotals(requests: 90, errors: 1))
        XCTAssertEqual(r.verdict, .inconclusive)
        XCTAssertEqual(r.statistic, -0.0953, accuracy: 1e-3)
        let end = judge.judge(canary: StepTotals(requests: 10, errors: 0), base: StepTotals(requests: 90, errors: 1), stepEnded: true)
        XCTAssertEqual(end.verdict, .inconclusive)
        XCTAssertEqual(end.summary, "too little data: 10 of 200 canary requests by the step's end")
        // Enough requests but no bound crossed by the step's end: no regression detected.
        let quiet = judge.judge(canary: StepTotals(requests: 300, errors: 1), base: StepTotals(requests: 2700, errors: 10), stepEnded: true)
        XCTAssertEqual(quiet.verdict, .pass)
    }

    func testLatencyNeedsItsMinimumSample() {
        let slow = StepTotals(requests: 150, errors: 0, p99Weighted: 150 * 300)
        let base = StepTotals(requests: 1350, errors: 5, p99Weighted: 1350 * 140)
        XCTAssertEqual(judge.judge(canary: slow, base: base).verdict, .inconclusive, "150 of 200 requests: no latency verdict yet")
        let more = StepTotals(requests: 250, errors: 0, p99Weighted: 250 * 300)
        let r = judge.judge(canary: more, base: base)
        XCTAssertEqual(r.verdict, .fail)
        XCTAssertEqual(r.summary, "canary p99 2.14× old's, over the 1.5× limit")
    }

    /// Seeded deploys at 10% canary, 1000 req/s, 1% base error rate, judged every second
    /// for up to 10 minutes: how often a healthy canary fails, and a 2× one passes.
    static func simulate(seed: UInt64, ratio: Double, judge: CanaryJudge, seconds: Int = 600) -> (Verdict, Int) {
        var rng = SeededGenerator(seed: seed)
        var c = StepTotals(), b = StepTotals()
        for t in 1...seconds {
            let cr = rng.binomial(1000, 0.1)
            let br = 1000 - cr
            c.requests += cr; c.errors += rng.binomial(cr, 0.01 * ratio)
            b.requests += br; b.errors += rng.binomial(br, 0.01)
            let r = judge.judge(canary: c, base: b)
            if r.verdict != .inconclusive { return (r.verdict, t) }
        }
        return (.inconclusive, seconds)
    }

    func testSeededFalseAlarmAndMissRates() {
        let runs = 300
        var falseAlarms = 0, misses = 0
        for seed in 1...UInt64(runs) {
            if Self.simulate(seed: seed, ratio: 1, judge: judge).0 == .fail { falseAlarms += 1 }
            if Self.simulate(seed: seed + 100_000, ratio: 2, judge: judge).0 != .fail { misses += 1 }
        }
        // Wald's bounds keep the rates near α = 5% and β = 20% (at most α/(1−β), β/(1−α)).
        XCTAssertLessThanOrEqual(Double(falseAlarms) / Double(runs), 0.0625, "false alarms \(falseAlarms)/\(runs)")
        XCTAssertLessThanOrEqual(Double(misses) / Double(runs), 0.21, "misses \(misses)/\(runs)")
        XCTAssertGreaterThan(falseAlarms + misses, 0, "the rates are measured, not zero by construction")
    }
}
