import FridayCore
import XCTest

/// Known answers worked out by hand from the formulas, and seeded runs for the error rates.
final class CanaryJudgeTests: XCTestCase {
    func testWhatTheStepStillNeedsReadsAsASentenceNamingTheTestThatWaits() {
        let j = CanaryJudge()
        let plan = RolloutPlan(steps: [RolloutStep(weight: 1, pause: .seconds(60)), RolloutStep(weight: 100, pause: .seconds(0))])
        // 0.4% errors on both at 1%, 10 canary requests a second: both routes move, slowly.
        let block = JudgeBlock(canaryRequests: 10, canaryErrors: 0, baseRequests: 990, baseErrors: 4)
        let early = j.judge(blocks: Array(repeating: block, count: 3), plan: plan, stepWeight: 1, elapsed: 3)
        XCTAssertEqual(early.verdict, .inconclusive)
        XCTAssertEqual(early.summary, "sampling, waiting on errors (canary 0 in 30 requests, 0.00%; old 12 in 2,970, 0.40%); needs 170 more canary requests")
        let later = j.judge(blocks: Array(repeating: block, count: 30), plan: plan, stepWeight: 1, elapsed: 30)
        XCTAssertTrue(later.summary.contains("a pass is about "), later.summary)
        XCTAssertTrue(later.summary.contains(" away at this traffic (~"), later.summary)
        // A canary whose errors run at twice the old rate is moving toward no pass.
        let worse = JudgeBlock(canaryRequests: 10, canaryErrors: 1, baseRequests: 990, baseErrors: 4)
        let stalled = j.judge(blocks: Array(repeating: worse, count: 6), plan: plan, stepWeight: 1, elapsed: 6, extendedFor: 0)
        XCTAssertTrue(stalled.summary.contains("; the errors test is not moving toward a pass at this traffic"), stalled.summary)
        XCTAssertTrue(stalled.summary.hasPrefix("no verdict yet after 6s at 1%, waiting on errors (canary 6 in 60 requests, 10%; "), stalled.summary)
        // With slow-request counts, the test still waiting is named.
        var slowBlock = block
        slowBlock.canarySlow = 0; slowBlock.baseSlow = 10
        var slowBlocks = Array(repeating: slowBlock, count: 400)
        for i in slowBlocks.indices where i % 20 < 3 { slowBlocks[i].canarySlow = 1 }
        let latency = j.judge(blocks: slowBlocks, plan: plan, stepWeight: 1, elapsed: 400)
        XCTAssertEqual(latency.verdict, .inconclusive, latency.summary)
        XCTAssertTrue(latency.summary.hasPrefix("sampling, waiting on latency (slow requests: canary 60 in 4,000 requests, 1.5%; old 4,000 in 396,000, 1.0%); errors passed; "), latency.summary)
    }

    /// Robbins' beta-binomial confidence sequence: known answers, and never above the
    /// fixed-horizon (Clopper–Pearson-like) bound at the same level.
    func testTheAnytimeLowerBound() {
        XCTAssertEqual(CanaryJudge.anytimeLowerBound(errors: 0, requests: 10_000, level: 0.01), 0)
        // 40 in 10,000 (0.4%) at level 0.01: the root of 40 ln p + 9960 ln(1−p) = ln B(41, 9961) + ln 0.01.
        let low = CanaryJudge.anytimeLowerBound(errors: 40, requests: 10_000, level: 0.01)
        let target = lgamma(41.0) + lgamma(9961.0) - lgamma(10_002.0) + log(0.01)
        XCTAssertEqual(40 * log(low) + 9960 * log(1 - low), target, accuracy: 1e-6, "it is the root")
        XCTAssertLessThan(low, 0.004)
        XCTAssertGreaterThan(low, 0.0016, "not uselessly loose (the fixed-horizon 99% bound is 0.0026; valid at every n, this one is wider)")
        // More data, the same rate: tighter.
        XCTAssertGreaterThan(CanaryJudge.anytimeLowerBound(errors: 400, requests: 100_000, level: 0.01), low)
    }

    /// The bound test passes a canary with no errors on its own count: 0 in n requests says
    /// its rate is below δ once (1 − δ/10)^n / (1 − δ)^n reaches 1/(0.8β).
    func testZeroErrorsOnBothVersionsPassOnTheCanarysOwnCount() {
        let j = CanaryJudge()
        let plan = RolloutPlan(steps: [RolloutStep(weight: 1, pause: .seconds(60)), RolloutStep(weight: 100, pause: .seconds(0))])
        var blocks: [JudgeBlock] = []
        var passedAt: Int?
        for t in 1...1000 {
            blocks.append(JudgeBlock(canaryRequests: 10, canaryErrors: 0, baseRequests: 990, baseErrors: 0))
            let r = j.judge(blocks: blocks, plan: plan, stepWeight: 1, elapsed: Double(t))
            XCTAssertNotEqual(r.verdict, .fail)
            if r.verdict == .pass {
                passedAt = t
                XCTAssertEqual(r.summary, "passed after \(formatDuration(Double(t))) at 1% on errors: errors: canary 0 in \((t * 10).grouped) requests, "
                               + "below 0.10% with 97.5% confidence (old 0.00%; a regression is 2.0× and +0.10%) (still watching)")
                break
            }
        }
        // ln(50) / (ln(1 − 0.0001) − ln(1 − 0.001)) = 4,344.4 requests: the 435th second.
        XCTAssertEqual(passedAt, 435)
    }

    /// A canary at 1% errors against an old version with none, or with 0.02%, is failed.
    func testACanaryWithErrorsAgainstARareErrorOldVersionIsFailed() {
        let j = CanaryJudge()
        let plan = RolloutPlan.standard
        for base in [0.0, 0.0002] {
            var rng = SeededGenerator(seed: 7)
            var blocks: [JudgeBlock] = []
            var verdict = Verdict.inconclusive
            for t in 1...600 where verdict == .inconclusive {
                blocks.append(JudgeBlock(at: Timestamp(seconds: Double(t)), canaryRequests: 50, canaryErrors: rng.binomial(50, 0.01),
                                         baseRequests: 4950, baseErrors: rng.binomial(4950, base)))
                let r = j.judge(blocks: blocks, plan: plan, stepWeight: 1, elapsed: Double(t))
                verdict = r.verdict
                if r.verdict == .fail { XCTAssertTrue(r.summary.hasPrefix("errors: canary "), r.summary) }
            }
            XCTAssertEqual(verdict, .fail, "base \(base)")
        }
    }

    /// The bound test is anytime-valid: a canary exactly at the regression it must not pass
    /// (the old rate + δ), watched every second for two hours, passes it at most 0.4β = 2% of
    /// the time (Ville's inequality, nearly reached at this edge), so 2,000 seeds are held to
    /// 2.7%, 2.3 standard errors above.
    func testTheBoundTestRarelyPassesARegressionHoweverLongItIsWatched() {
        let j = CanaryJudge()
        var passes = 0
        let seeds = 2000
        for seed in 1...UInt64(seeds) {
            var rng = SeededGenerator(seed: seed &* 7919 &+ 11)
            var t = CanaryJudge.CountTest()
            for _ in 0..<7200 {
                t.add(canary: 10, rng.binomial(10, 0.001), base: 990, rng.binomial(990, 0.0), judge: j, passBound: -.infinity, minRequests: 200)
                if t.passed { break }
            }
            if t.passed { XCTAssertEqual(t.passedBy, .bound); passes += 1 }
        }
        print("bound test at its edge: \(passes) of \(seeds) regressions passed")
        XCTAssertLessThanOrEqual(passes, 54, "\(passes) of \(seeds) regressions passed")
        XCTAssertGreaterThan(passes, 0, "measured, not zero by construction")
    }

    /// A regression that starts late is reported with the figures of the stretch that raised
    /// the alarm and the time since it began, not the whole step's.
    func testALateRegressionIsToldWithTheStretchThatRaisedTheAlarm() {
        let j = CanaryJudge()
        let plan = RolloutPlan(steps: [RolloutStep(weight: 10, pause: .seconds(900)), RolloutStep(weight: 100, pause: .seconds(0))])
        var blocks: [JudgeBlock] = []
        for t in 0..<300 { blocks.append(JudgeBlock(at: Timestamp(seconds: Double(t)), canaryRequests: 100, canaryErrors: t % 10 == 0 ? 1 : 0, baseRequests: 900, baseErrors: 1)) }
        var result: CanaryJudge.Result?
        for t in 300..<420 {
            blocks.append(JudgeBlock(at: Timestamp(seconds: Double(t)), canaryRequests: 100, canaryErrors: 5, baseRequests: 900, baseErrors: 1))
            let r = j.judge(blocks: blocks, plan: plan, stepWeight: 10, elapsed: Double(t + 1))
            if r.verdict == .fail { result = r; break }
        }
        let r = try! XCTUnwrap(result)
        // Caught within seconds; the sentence quotes those seconds (5%), not the step's 1.3%.
        XCTAssertTrue(r.summary.contains(", the stretch that raised the alarm: "), r.summary)
        XCTAssertTrue(r.summary.contains("(5.0%)"), r.summary)
        XCTAssertFalse(r.summary.contains("over the step"), r.summary)
        XCTAssertTrue(r.summary.contains("reverted ") && r.summary.contains(" after it began (") && r.summary.hasSuffix(" into the 10% step)"), r.summary)
        let caught = blocks.count - 300
        XCTAssertLessThanOrEqual(caught, 10)
        XCTAssertTrue(r.summary.contains("reverted \(formatDuration(Double(caught))) after it began"), r.summary)
    }

    func testARestartUnderASecondIsNotCalledZeroSecondsDown() {
        var s = DeployState()
        let t = Timestamp(seconds: 1000)
        Reducer.reduce(&s, DeployEvent(seq: 0, ts: t, deploy: "d", payload: .deployStarted(service: "svc", from: VersionRef(name: "v1", commit: "a"), to: VersionRef(name: "v2", commit: "b"),
                                                                                      plan: .standard, stages: [], by: "x")))
        Reducer.reduce(&s, DeployEvent(seq: 1, ts: t, deploy: "d", payload: .engineRestarted(downSeconds: 0.3)))
        XCTAssertEqual(s.log.last?.text, "friday restarted after under a second down")
        Reducer.reduce(&s, DeployEvent(seq: 2, ts: t, deploy: "d", payload: .engineRestarted(downSeconds: 75)))
        XCTAssertEqual(s.log.last?.text, "friday restarted after 1m15s down")
    }

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
        XCTAssertEqual(r.summary, "errors: canary 20 in 1,000 requests (2.0%), old 90 in 9,000 (1.0%) over the step: 2.0× — reverted after 0s at 10%")
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
        XCTAssertTrue(end.summary.hasPrefix("no verdict yet after 0s at 10%, waiting on errors (canary 0 in 10 requests, 0.00%; old 1 in 90, 1.1%); needs 190 more canary requests"), end.summary)
        // Enough requests but no bound crossed by the step's end: no evidence, so no pass.
        let quiet = judge.judge(canary: StepTotals(requests: 300, errors: 1), base: StepTotals(requests: 2700, errors: 10), stepEnded: true)
        XCTAssertEqual(quiet.verdict, .inconclusive)
    }

    func testLatencyNeedsItsMinimumSample() {
        let slow = StepTotals(requests: 150, errors: 0, p99Weighted: 150 * 300)
        let base = StepTotals(requests: 1350, errors: 5, p99Weighted: 1350 * 140)
        XCTAssertEqual(judge.judge(canary: slow, base: base).verdict, .inconclusive, "150 of 200 requests: no latency verdict yet")
        let more = StepTotals(requests: 250, errors: 0, p99Weighted: 250 * 300)
        let r = judge.judge(canary: more, base: base)
        XCTAssertEqual(r.verdict, .fail)
        XCTAssertEqual(r.summary, "latency: canary p99 300 ms vs old 140 ms: 2.14×, over the 1.5× limit — reverted after 0s at 10%")
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

    /// Simpson's paradox: the canary's share moves between 5% and 15% in phase with an error
    /// rate both versions share. Pooled counts blame the canary; each block against its own
    /// share does not.
    func testEachBlockIsJudgedAgainstItsOwnSplit() {
        var blocks: [JudgeBlock] = []
        for i in 0..<60 {
            let busy = i % 2 == 0
            let canary = busy ? 150 : 50, base = 1000 - canary
            let rate = busy ? 0.03 : 0.01
            blocks.append(JudgeBlock(canaryRequests: canary, canaryErrors: Int((Double(canary) * rate).rounded()), baseRequests: base, baseErrors: Int((Double(base) * rate).rounded())))
        }
        let plan = RolloutPlan(steps: [RolloutStep(weight: 10, pause: .seconds(60)), RolloutStep(weight: 100, pause: .seconds(0))])
        let stratified = judge.judge(blocks: blocks, plan: plan, stepWeight: 10, elapsed: 60)
        XCTAssertNotEqual(stratified.verdict, .fail, stratified.summary)
        let pooled = blocks.reduce(JudgeBlock()) { JudgeBlock(canaryRequests: $0.canaryRequests + $1.canaryRequests, canaryErrors: $0.canaryErrors + $1.canaryErrors,
                                                              baseRequests: $0.baseRequests + $1.baseRequests, baseErrors: $0.baseErrors + $1.baseErrors) }
        XCTAssertEqual(judge.judge(blocks: [pooled], plan: plan, stepWeight: 10, elapsed: 60).verdict, .fail, "pooled, the same counts look like a regression")
    }

    /// After the step test passes, Page's CUSUM still watches: a regression that starts
    /// late is caught, and evidence for "healthy" piled up before does not hide it.
    func testALateRegressionIsCaughtAfterAPass() {
        let j = CanaryJudge()
        let plan = RolloutPlan(steps: [RolloutStep(weight: 10, pause: .seconds(900)), RolloutStep(weight: 100, pause: .seconds(0))])
        var blocks: [JudgeBlock] = []
        for _ in 0..<300 { blocks.append(JudgeBlock(canaryRequests: 100, canaryErrors: 1, baseRequests: 900, baseErrors: 9)) }
        let healthy = j.judge(blocks: blocks, plan: plan, stepWeight: 10, elapsed: 300)
        XCTAssertEqual(healthy.verdict, .pass)
        var caughtAfter: Int?
        for t in 1...120 {
            blocks.append(JudgeBlock(canaryRequests: 100, canaryErrors: 2, baseRequests: 900, baseErrors: 9))
            if j.judge(blocks: blocks, plan: plan, stepWeight: 10, elapsed: Double(300 + t)).verdict == .fail { caughtAfter = t; break }
        }
        XCTAssertNotNil(caughtAfter, "a 2× regression after a pass is caught")
        XCTAssertLessThanOrEqual(caughtAfter ?? 999, 60)
    }

    /// The minimum increase for a CUSUM alarm is measured over the CUSUM's own stretch, so
    /// a late regression is not diluted by the healthy minutes before it.
    func testTheMinimumIncreaseOfALateAlarmIsNotDilutedByTheHealthyPast() {
        var t = CanaryJudge.CountTest()
        let j = CanaryJudge(minErrorRateIncrease: 0.005)
        // 600 healthy seconds (0.5% on both), then the canary at 1.5% for 60 s.
        for _ in 0..<600 { t.add(canary: 100, 0, base: 900, 5, judge: j, passBound: -3, minRequests: 200) }
        for i in 0..<120 { t.add(canary: 100, i % 2 == 0 ? 1 : 2, base: 900, 5, judge: j, passBound: -3, minRequests: 200) }
        XCTAssertLessThan(t.canaryRate - t.baseRate, 0.005, "over the step the increase looks small")
        XCTAssertGreaterThanOrEqual(t.cusum, j.cusumThreshold)
        XCTAssertTrue(t.fails(j, failBound: 100), "over its own stretch the CUSUM's alarm stands")
    }

    /// Eight errors against none at tiny volume cross the test but not the minimum effect.
    func testAMinimumErrorRateIncreaseKeepsTinyVolumesFromReverting() {
        let j = CanaryJudge(minErrorRateIncrease: 0.001)
        let plan = RolloutPlan(steps: [RolloutStep(weight: 1, pause: .seconds(60)), RolloutStep(weight: 100, pause: .seconds(0))])
        // 8 canary errors in 10,000 requests (0.08%), none in 990,000 on the old version.
        let r = j.judge(blocks: [JudgeBlock(canaryRequests: 10_000, canaryErrors: 8, baseRequests: 990_000, baseErrors: 0)], plan: plan, stepWeight: 1, elapsed: 60)
        XCTAssertGreaterThan(r.statistic, r.failBound, "the test alone would fail it")
        XCTAssertNotEqual(r.verdict, .fail)
        let strict = CanaryJudge(minErrorRateIncrease: 0)
        XCTAssertEqual(strict.judge(blocks: [JudgeBlock(canaryRequests: 10_000, canaryErrors: 8, baseRequests: 990_000, baseErrors: 0)], plan: plan, stepWeight: 1, elapsed: 60).verdict, .fail)
    }

    func testTheBudgetIsSpentAcrossTheJudgedSteps() {
        let j = CanaryJudge(alpha: 0.01)
        XCTAssertEqual(j.stepAlpha(.standard), 0.0025, accuracy: 1e-12, "1% over four judged steps (1, 5, 25, 50%)")
        XCTAssertEqual(j.failBound(stepAlpha: 0.0025), Foundation.log(0.95 / 0.0025), accuracy: 1e-9)
    }

    /// The forecast at the documented extremes: no trap, no endless loop, and the sense is right.
    func testTheForecastAtTheEdgesOfItsRanges() {
        let j = CanaryJudge()
        for r in [0.001, 1, 200, 10_000_000.0] {
            for e in [0, 1e-11, 0.0002, 0.004, 0.5] {
                for plan in [RolloutPlan.standard, RolloutPlan(steps: [RolloutStep(weight: 50, pause: .seconds(30 * 86_400)), RolloutStep(weight: 100, pause: .seconds(0))])] {
                    let f = JudgeForecast.make(judge: j, plan: plan, requestsPerSecond: r, errorRate: e)
                    for st in f.steps {
                        XCTAssertFalse(st.pass.map { $0.isNaN } ?? false, "\(r) \(e)")
                        XCTAssertTrue((0...1).contains(st.heldChance ?? 0), "\(r) \(e): \(String(describing: st.heldChance))")
                    }
                    _ = f.report(judge: j, plan: plan, file: "f.toml", stepLines: [], source: "test")
                }
            }
        }
        // More traffic never makes a step slower to pass; no traffic to speak of is held.
        let plan = RolloutPlan.standard
        let slow = JudgeForecast.make(judge: j, plan: plan, requestsPerSecond: 20, errorRate: 0).steps[0]
        let fast = JudgeForecast.make(judge: j, plan: plan, requestsPerSecond: 5000, errorRate: 0).steps[0]
        XCTAssertGreaterThan(slow.pass ?? .infinity, fast.pass ?? 0)
        XCTAssertTrue(slow.tooSlow)
        XCTAssertFalse(fast.tooSlow)
        XCTAssertEqual(poissonTail(above: Int.max / 2, mean: 10), 0)
        XCTAssertEqual(poissonTail(above: 0, mean: 0), 0)
        XCTAssertEqual(poissonTail(above: -1, mean: 3), 1)
    }
}

extension CanaryJudgeTests {
    /// Issue 24, item 10: "1 request", not "1 requests"; a candidate of several that fails is
    /// "taken out", not "reverted".
    func testVerdictWordsCountRightAndNameWhatAFailDoes() {
        let one = CanaryJudge().judge(canary: StepTotals(requests: 1, errors: 0), base: StepTotals(requests: 50_000, errors: 100))
        XCTAssertTrue(one.summary.contains("0 in 1 request,") || one.summary.contains("0 in 1 request)") || one.summary.contains("0 in 1 request;"), one.summary)
        XCTAssertFalse(one.summary.contains("1 requests"), one.summary)
        let blocks = (0..<60).map { _ in JudgeBlock(canaryRequests: 1_000, canaryErrors: 80, baseRequests: 20_000, baseErrors: 80) }
        let fail = CanaryJudge().judge(blocks: blocks, plan: .standard, stepWeight: 5, elapsed: 60, failAction: "taken out")
        XCTAssertEqual(fail.verdict, .fail)
        XCTAssertTrue(fail.summary.contains("taken out"), fail.summary)
        XCTAssertFalse(fail.summary.contains("reverted"), fail.summary)
    }
}
