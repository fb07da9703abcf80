import FridayCore
import FridayEngine
import FridayIntegrations
import Synchronization
import XCTest

/// Seeded traffic for any number of versions: each version's requests follow the split the
/// router holds; its errors and latency are the test's to set.
final class VersionTraffic: MetricsSource, Sendable {
    struct Profile: Sendable { var errorRate: Double; var p50: Double; var p99: Double }
    private let router: SimulatedRouter
    private let rps: Int
    private let state: Mutex<(rng: SeededGenerator, profiles: [String: Profile])>

    init(router: SimulatedRouter, rps: Int = 2000, seed: UInt64, profiles: [String: Profile]) {
        self.router = router; self.rps = rps
        state = Mutex((SeededGenerator(seed: seed), profiles))
    }

    func set(_ version: String, _ p: Profile) { state.withLock { $0.profiles[version] = p } }

    func sample(at time: Timestamp, state s: DeployState) async throws -> [MetricsSample] {
        let split = router.current
        return state.withLock { st in
            split.map { w in
                let p = st.profiles[w.version] ?? Profile(errorRate: 0.01, p50: 40, p99: 120)
                let n = st.rng.binomial(rps, Double(w.percent) / 100)
                let e = st.rng.binomial(n, p.errorRate)
                // Per-second percentiles wander a little around the version's own.
                let p50 = max(1, p.p50 * (1 + 0.05 * st.rng.normal()))
                let p99 = max(p50, p.p99 * (1 + 0.08 * st.rng.normal()))
                return MetricsSample(version: w.version, requests: n, errors: e, p50: p50, p99: p99, window: 1)
            }
        }
    }
}

final class MultiwayTests: XCTestCase {
    let base = Timestamp(seconds: 1_796_000_000)
    let three = ["v2.3.0", "v2.4.0-a", "v2.4.0-b"]

    func plan(benchmark: Bool = false) -> RolloutPlan {
        func w(_ a: Int, _ b: Int, _ c: Int) -> [VersionWeight] { zip(three, [a, b, c]).map { VersionWeight(version: $0, percent: $1) } }
        if benchmark {
            return RolloutPlan(steps: [RolloutStep(weight: 66, pause: .untilPromoted, weights: w(34, 33, 33)),
                                       RolloutStep(weight: 100, pause: .untilPromoted, weights: w(0, 50, 50))],
                               moreCandidates: [VersionRef(name: "v2.4.0-b", commit: "b")], benchmark: true)
        }
        return RolloutPlan(steps: [RolloutStep(weight: 20, pause: .seconds(60), weights: w(80, 10, 10)),
                                   RolloutStep(weight: 66, pause: .seconds(60), weights: w(34, 33, 33)),
                                   RolloutStep(weight: 100, pause: .seconds(0), weights: w(0, 50, 50))],
                           moreCandidates: [VersionRef(name: "v2.4.0-b", commit: "b")])
    }

    /// An engine whose deploy has passed its one stage and is about to take its first step.
    func start(_ plan: RolloutPlan, traffic: (SimulatedRouter) -> VersionTraffic) async -> (Engine, ManualClock, SimulatedRouter, VersionTraffic) {
        let clock = ManualClock(base)
        let router = SimulatedRouter()
        let t = traffic(router)
        let e = Engine(deployID: "three", clock: clock, router: router, metrics: t, sources: [], judge: CanaryJudge())
        await e.ingest(.deployStarted(service: "checkout", from: VersionRef(name: "v2.3.0", commit: "o"), to: VersionRef(name: "v2.4.0-a", commit: "a"),
                                      plan: plan, stages: ["build"], by: "ana"))
        await e.ingest(.stageStarted(stage: "build"))
        await e.ingest(.stageFinished(stage: "build", status: .succeeded, seconds: 1))
        return (e, clock, router, t)
    }

    func run(_ e: Engine, _ clock: ManualClock, from: Double, to: Double, until: (DeployState) -> Bool = { _ in false }) async -> Double {
        var t = from
        while t <= to {
            clock.set(base + t)
            await e.advance(to: base + t)
            if until(await e.state) { return t }
            t += 1
        }
        return t
    }

    func testAFailingCandidateIsRevertedAloneAndTheOthersGoOnToTheEnd() async {
        let (e, clock, router, traffic) = await start(plan()) { VersionTraffic(router: $0, seed: 7, profiles: [:]) }
        _ = await run(e, clock, from: 1, to: 20)
        var s = await e.state
        XCTAssertEqual(s.stepIndex, 0)
        XCTAssertEqual(Set(s.observed), Set([VersionWeight(version: "v2.3.0", percent: 80), VersionWeight(version: "v2.4.0-a", percent: 10), VersionWeight(version: "v2.4.0-b", percent: 10)]))
        traffic.set("v2.4.0-b", .init(errorRate: 0.2, p50: 40, p99: 120))
        let at = await run(e, clock, from: 21, to: 200) { ($0.candidatesOut ?? []).contains("v2.4.0-b") && $0.pending == nil }
        s = await e.state
        XCTAssertLessThan(at, 200, "the failing candidate was never taken out")
        XCTAssertNil(s.outcome, "one failing candidate of two does not end the deploy")
        XCTAssertEqual(s.liveCandidates.map(\.name), ["v2.4.0-a"])
        // Its 10% went to the others in proportion (80:10 → 89:11), read back from the router.
        XCTAssertEqual(router.current, [VersionWeight(version: "v2.3.0", percent: 89), VersionWeight(version: "v2.4.0-a", percent: 11), VersionWeight(version: "v2.4.0-b", percent: 0)])
        XCTAssertEqual(Set(s.observed), Set(router.current))
        XCTAssertEqual(s.candidateJudgements?["v2.4.0-b"]?.verdict, .fail)
        XCTAssertTrue(s.log.contains { $0.text.contains("judge is taking v2.4.0-b out of rotation") }, s.log.suffix(6).map(\.text).joined(separator: "\n"))
        // The rest of the rollout never gives it traffic again, and ends with a alone at 100%.
        var seenB = false
        let end = await run(e, clock, from: at + 1, to: at + 600) { st in
            if st.observed.contains(where: { $0.version == "v2.4.0-b" && $0.percent > 0 }) { seenB = true }
            return st.isFinished
        }
        s = await e.state
        XCTAssertFalse(seenB)
        XCTAssertLessThan(end, at + 600, s.log.suffix(6).map(\.text).joined(separator: "\n"))
        XCTAssertEqual(s.outcome, .promoted)
        XCTAssertEqual(router.current, [VersionWeight(version: "v2.3.0", percent: 0), VersionWeight(version: "v2.4.0-a", percent: 100), VersionWeight(version: "v2.4.0-b", percent: 0)])
    }

    func testACrashAfterTheCandidateRevertIsDecidedFinishesItAndNoStepUndoesIt() async throws {
        // The log as a crash leaves it: the traffic.set that takes b out is on disk, the router
        // was never told, the confirmation never written. Read back line by line.
        let p = plan()
        let lines: [EventPayload] = [
            .deployStarted(service: "checkout", from: VersionRef(name: "v2.3.0", commit: "o"), to: VersionRef(name: "v2.4.0-a", commit: "a"), plan: p, stages: ["build"], by: "ana"),
            .stageStarted(stage: "build"), .stageFinished(stage: "build", status: .succeeded, seconds: 1),
            .trafficSet(weights: p.steps[0].weights!, cause: .step(index: 0)), .trafficObserved(weights: p.steps[0].weights!),
            .stepStarted(index: 0, weight: 20, pause: .seconds(60)),
            .trafficSet(weights: RolloutLogic.redistribute(p.steps[0].weights!, out: ["v2.4.0-b"]), cause: .revertCandidate(version: "v2.4.0-b", by: "judge", reason: "5xx")),
        ]
        var state = DeployState()
        for (i, payload) in lines.enumerated() {
            let line = DeployEvent(seq: i, ts: base + Double(i), deploy: "three", payload: payload).jsonLine
            let back = try DeployEvent(jsonLine: line)
            XCTAssertNil(Reducer.problem(with: back, after: state))
            Reducer.reduce(&state, back)
        }
        XCTAssertEqual(state.candidatesOut, ["v2.4.0-b"])
        let clock = ManualClock(base + 10)
        let router = SimulatedRouter()
        router.setByHand(p.steps[0].weights!) // the router still holds the old split
        let e = Engine(deployID: "three", clock: clock, router: router, metrics: VersionTraffic(router: router, seed: 1, profiles: [:]), sources: [], judge: CanaryJudge())
        await e.restore(state)
        await e.resumeAfterRestart()
        var s = await e.state
        XCTAssertNil(s.pending)
        XCTAssertTrue(s.log.contains { $0.text.hasPrefix("v2.4.0-b is out of rotation") })
        XCTAssertEqual(router.current.first { $0.version == "v2.4.0-b" }?.percent, 0)
        // A promote to the next step keeps b out; only a retry would bring it back.
        let d = await e.send(Command(.promote, by: "ana"))
        XCTAssertNil(d.refusal)
        s = await e.state
        XCTAssertEqual(s.stepIndex, 1)
        XCTAssertEqual(router.current, [VersionWeight(version: "v2.3.0", percent: 51), VersionWeight(version: "v2.4.0-a", percent: 49), VersionWeight(version: "v2.4.0-b", percent: 0)])
    }

    func testAPersonTakesOneCandidateOutByNameAndBadNamesAreRefused() async {
        let (e, clock, router, _) = await start(plan()) { VersionTraffic(router: $0, seed: 3, profiles: [:]) }
        _ = await run(e, clock, from: 1, to: 5)
        let unknown = await e.send(Command(.revert, by: "ana", text: "slow", candidate: "v9\u{1b}[2J"))
        XCTAssertEqual(unknown.refusal, "v9^[[2J is not a candidate of this deploy (candidates: v2.4.0-a, v2.4.0-b)")
        let ok = await e.send(Command(.revert, by: "ana", text: "slow", candidate: "v2.4.0-a"))
        XCTAssertNil(ok.refusal)
        XCTAssertEqual(router.current.map(\.percent), [89, 0, 11])
        let again = await e.send(Command(.revert, by: "ana", text: "slow", candidate: "v2.4.0-a"))
        XCTAssertEqual(again.refusal, "v2.4.0-a is already out of rotation")
        // The last candidate in rotation: taking it out reverts the deploy.
        let last = await e.send(Command(.revert, by: "ana", text: "both bad", candidate: "v2.4.0-b"))
        XCTAssertNil(last.refusal)
        let s = await e.state
        XCTAssertEqual(s.outcome, .reverted)
        XCTAssertEqual(router.current.map(\.percent), [100, 0, 0])
        // A retry brings both back.
        _ = await e.send(Command(.retry, by: "ana"))
        XCTAssertEqual(router.current.map(\.percent), [80, 10, 10])
    }

    func testTheBudgetIsSharedAmongTheCandidates() {
        let j = CanaryJudge(alpha: 0.01)
        XCTAssertEqual(j.stepAlpha(plan()), 0.01 / 2 / 2, accuracy: 1e-12) // two judged steps, two candidates
        XCTAssertEqual(j.stepAlpha(RolloutPlan(steps: [RolloutStep(weight: 10, pause: .seconds(1)), RolloutStep(weight: 100, pause: .seconds(0))])), 0.01, accuracy: 1e-12)
    }

    func testRedistributionKeepsProportionsAndSumsTo100() {
        func w(_ p: [Int]) -> [VersionWeight] { zip(three, p).map { VersionWeight(version: $0, percent: $1) } }
        XCTAssertEqual(RolloutLogic.redistribute(w([34, 33, 33]), out: ["v2.4.0-b"]).map(\.percent), [51, 49, 0])
        XCTAssertEqual(RolloutLogic.redistribute(w([0, 50, 50]), out: ["v2.4.0-b"]).map(\.percent), [0, 100, 0])
        // A version the plan gives nothing never gets the freed share: the baseline does.
        XCTAssertEqual(RolloutLogic.redistribute(w([0, 100, 0]), out: ["v2.4.0-a"]).map(\.percent), [100, 0, 0])
        XCTAssertEqual(RolloutLogic.redistribute([], out: ["v2.4.0-a"]), [])
        XCTAssertEqual(RolloutLogic.redistribute(w([0, 50, 50]), out: ["v2.4.0-a", "v2.4.0-b"]).map(\.percent), [100, 0, 0])
        for a in 0...100 { for b in 0...(100 - a) {
            let r = RolloutLogic.redistribute(w([a, b, 100 - a - b]), out: ["v2.4.0-a"])
            XCTAssertEqual(r.reduce(0) { $0 + $1.percent }, 100)
            XCTAssertEqual(r[1].percent, 0)
        } }
    }

    func testTheBenchmarkNamesTheFasterCandidateAndDoesNotPromote() async {
        let (e, clock, _, _) = await start(plan(benchmark: true)) {
            VersionTraffic(router: $0, seed: 11, profiles: ["v2.3.0": .init(errorRate: 0.01, p50: 48, p99: 150),
                                                           "v2.4.0-a": .init(errorRate: 0.01, p50: 47, p99: 148),
                                                           "v2.4.0-b": .init(errorRate: 0.01, p50: 38, p99: 110)])
        }
        _ = await run(e, clock, from: 1, to: 400)
        let s = await e.state
        XCTAssertEqual(s.stepIndex, 0, "a benchmark waits for a promote")
        XCTAssertNil(s.outcome)
        let b = Benchmark.evaluate(s)
        XCTAssertEqual(b?.fastestAtP50, "v2.4.0-b")
        XCTAssertEqual(b?.fastestAtP99, "v2.4.0-b")
        let ratio = b?.p50Ratios.first { $0.faster == "v2.4.0-b" && $0.slower == "v2.4.0-a" }
        XCTAssertNotNil(ratio)
        XCTAssertTrue(ratio!.low < 38.0 / 47 && 38.0 / 47 < ratio!.high, "the interval \(ratio!) holds the true ratio")
        XCTAssertEqual(s.judgement?.verdict, .pass)
        XCTAssertTrue(s.judgement?.summary.hasPrefix("benchmark over ") ?? false, s.judgement?.summary ?? "")
        XCTAssertTrue(s.judgement?.summary.contains("v2.4.0-b is faster at p50") ?? false, s.judgement?.summary ?? "")
        XCTAssertNil(s.candidatesOut, "the slower candidates are reported, not reverted")
        print("benchmark: \(s.judgement?.summary ?? "")")
    }

    func testTheBenchmarkSaysNothingIsFasterWhenTheyAreTheSame() async {
        let (e, clock, _, _) = await start(plan(benchmark: true)) {
            VersionTraffic(router: $0, seed: 5, profiles: ["v2.3.0": .init(errorRate: 0.01, p50: 40, p99: 120),
                                                          "v2.4.0-a": .init(errorRate: 0.01, p50: 40, p99: 120),
                                                          "v2.4.0-b": .init(errorRate: 0.01, p50: 40, p99: 120)])
        }
        _ = await run(e, clock, from: 1, to: 300)
        let s = await e.state
        let b = Benchmark.evaluate(s)
        XCTAssertNotNil(b)
        XCTAssertNil(b?.fastestAtP50)
        XCTAssertNil(b?.fastestAtP99)
        XCTAssertTrue(b?.summary.contains("no candidate shown faster at p50") ?? false, b?.summary ?? "")
    }

    func testNormalQuantile() {
        XCTAssertEqual(normalQuantile(0.975), 1.959964, accuracy: 1e-5)
        XCTAssertEqual(normalQuantile(0.5), 0, accuracy: 1e-9)
        XCTAssertEqual(normalQuantile(0.001), -3.090232, accuracy: 1e-5)
    }
}
