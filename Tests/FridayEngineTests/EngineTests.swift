import FridayCore
import FridayEngine
import FridayIntegrations
import XCTest

/// A router that fails on demand and remembers what it was told.
final class FlakyRouter: TrafficRouter, @unchecked Sendable {
    let name = "flaky"
    private let lock = Lock()
    private var failing: String?
    private var lying = false
    private(set) var calls: [[VersionWeight]] = []
    func fail(_ m: String?) { lock.withLock { failing = m } }
    func lie(_ on: Bool) { lock.withLock { lying = on } }
    func currentWeights() async throws -> [VersionWeight]? { nil }
    func setWeights(_ w: [VersionWeight]) async throws -> [VersionWeight] {
        try lock.withLock {
            calls.append(w)
            if let failing { throw RouterError(failing) }
            return lying ? w.map { VersionWeight(version: $0.version, percent: $0.percent == 0 ? 0 : $0.percent - 1) } : w
        }
    }
}

final class EngineTests: XCTestCase {
    let base = SimulationSettings.fridayAfternoon

    func makeEngine(_ scenario: Scenario = .good, seed: UInt64 = 1, router: (any TrafficRouter)? = nil, judge: CanaryJudge = CanaryJudge()) -> (Engine, ManualClock) {
        let settings = SimulationSettings(scenario: scenario, seed: seed)
        let clock = ManualClock(base)
        let engine = Engine(deployID: "t", clock: clock, router: router ?? SimulatedRouter(), metrics: SimulatedTraffic(settings: settings),
                            sources: [SimulatedDeploy(settings: settings)], judge: judge)
        return (engine, clock)
    }

    /// Advances second by second up to `seconds` (or until `until` holds).
    func run(_ engine: Engine, _ clock: ManualClock, to seconds: Double, from: Double = 0, until: (@Sendable (DeployState) -> Bool)? = nil) async {
        var t = from
        while t <= seconds {
            clock.set(base + t)
            await engine.advance(to: base + t)
            if let until, until(await engine.state) { return }
            t += 1
        }
    }

    func testCancellingARunningStageFailsTheDeployAndNoTrafficMoves() async {
        let (engine, clock) = makeEngine()
        await run(engine, clock, to: 3)
        let running = await engine.state.runningStage?.name
        XCTAssertEqual(running, "wait for build")
        let decision = await engine.send(Command(.cancel, by: "ana"))
        XCTAssertEqual(decision.refusal, nil)
        await run(engine, clock, to: 6, from: 4)
        let s = await engine.state
        XCTAssertEqual(s.stages.first?.status, .cancelled)
        XCTAssertEqual(s.outcome, .failed)
        XCTAssertNil(s.stepIndex, "a step started after the pipeline was cancelled")
        XCTAssertEqual(s.stages.dropFirst().map(\.status), [.pending, .pending, .pending])
        let again = await engine.send(Command(.cancel, by: "ana"))
        XCTAssertEqual(again.refusal, "no pipeline stage is running")
    }

    func lines(_ scenario: Scenario, seed: UInt64, seconds: Double) async -> [String] {
        let (engine, clock) = makeEngine(scenario, seed: seed)
        let box = LinesBox()
        await engine.addSink { box.append($0.jsonLine) }
        await run(engine, clock, to: seconds)
        return box.lines
    }

    func testTheSameSeedGivesTheSameEventStream() async {
        let a = await lines(.good, seed: 7, seconds: 400)
        let b = await lines(.good, seed: 7, seconds: 400)
        let c = await lines(.good, seed: 8, seconds: 400)
        XCTAssertGreaterThan(a.count, 300)
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, c)
        // And the stream folds back: every line parses, seq is consecutive.
        for (i, line) in a.enumerated() { XCTAssertEqual(try DeployEvent(jsonLine: line).seq, i) }
    }

    func testTheGoodScenarioIsPromotedByATeammate() async {
        let (engine, clock) = makeEngine(.good)
        await run(engine, clock, to: 1000, until: { $0.isFinished })
        let s = await engine.state
        XCTAssertEqual(s.outcome, .promoted)
        XCTAssertEqual(s.canaryPercent, 100)
        XCTAssertTrue(s.log.contains { $0.kind == .command && $0.text.hasPrefix("maya promoted (25% → 50%)") })
    }

    func testBadCanaryIsRevertedByTheJudgeAtFivePercent() async {
        let (engine, clock) = makeEngine(.badCanary)
        await run(engine, clock, to: 400)
        let s = await engine.state
        XCTAssertEqual(s.outcome, .reverted)
        XCTAssertEqual(s.stepIndex, 1, "reverted during the 5% step")
        XCTAssertEqual(s.canaryPercent, 0)
        XCTAssertEqual(s.judgement?.verdict, .fail)
        // The verdict in words, with the evidence.
        let summary = s.judgement?.summary ?? ""
        XCTAssertTrue(summary.hasPrefix("errors: v2.4.0 ") && summary.contains(" requests (") && summary.contains("), v2.3.0 ") && summary.contains("× — reverted after ")
                      && summary.hasSuffix(" at 5%"), summary)
        XCTAssertTrue(s.log.contains { $0.text.contains("deploy reverted by judge") })
    }

    func testTheJudgeCanHoldInsteadOfReverting() async {
        let (engine, clock) = makeEngine(.badCanary, judge: CanaryJudge(onFail: .pause))
        await run(engine, clock, to: 400)
        let s = await engine.state
        XCTAssertEqual(s.stepIndex, 1)
        XCTAssertEqual(s.canaryPercent, 5)
        XCTAssertEqual(s.paused?.by, "judge")
        XCTAssertFalse(s.isFinished, "held for a human, not reverted")
    }

    func testSlowCanaryIsRevertedOnLatency() async {
        let (engine, clock) = makeEngine(.slowCanary)
        await run(engine, clock, to: 400)
        let s = await engine.state
        XCTAssertEqual(s.outcome, .reverted)
        // Judged on counts of slow requests (above the old version's p99), like errors.
        XCTAssertTrue(s.judgement?.summary.hasPrefix("slow requests: v2.4.0 ") ?? false, s.judgement?.summary ?? "")
    }

    func testAStepWithTooLittleDataWaitsForEvidenceThenIsHeldWithAnEstimate() async {
        // 1% of 5000 req/s is 50 canary requests a second: 10,000 take 200 s, past the 30 s
        // pause and the 60 s the step may wait for evidence.
        let (engine, clock) = makeEngine(.good, judge: CanaryJudge(minRequests: 10_000, maxExtension: 60))
        await run(engine, clock, to: 100)
        var s = await engine.state
        XCTAssertEqual(s.stepIndex, 0, "never passed without evidence")
        XCTAssertNil(s.paused, "still waiting for evidence within the extension")
        XCTAssertTrue(s.judgement?.summary.hasPrefix("no verdict yet after ") ?? false, s.judgement?.summary ?? "")
        await run(engine, clock, to: 200, from: 101)
        s = await engine.state
        XCTAssertEqual(s.stepIndex, 0)
        XCTAssertEqual(s.paused?.by, "judge")
        XCTAssertEqual(s.judgement?.verdict, .inconclusive)
        XCTAssertTrue(s.paused?.reason.contains("more canary requests") ?? false, s.paused?.reason ?? "")
    }

    func testSteadyHoldsOneStepForever() async {
        let (engine, clock) = makeEngine(.steady)
        await run(engine, clock, to: 900)
        let s = await engine.state
        XCTAssertEqual(s.stepIndex, 0)
        XCTAssertEqual(s.canaryPercent, 10)
        XCTAssertNil(s.paused)
        XCTAssertFalse(s.isFinished)
        XCTAssertGreaterThan(s.metrics["v2.4.0"]?.points.count ?? 0, 500, "one sample a second")
    }

    func testCommandsMoveTheRolloutAndRefusalsAreLogged() async {
        let (engine, clock) = makeEngine(.good)
        let early = await engine.send(Command(.promote, by: "lee"))
        XCTAssertEqual(early, .rejected("no deploy is running"))
        await run(engine, clock, to: 60, until: { $0.stepIndex == 0 })
        // Two promotes in a row go one step each, never skipping.
        async let a = engine.send(Command(.promote, by: "lee"))
        async let b = engine.send(Command(.promote, by: "maya"))
        _ = await (a, b)
        var s = await engine.state
        XCTAssertEqual(s.stepIndex, 2)
        XCTAssertEqual(s.canaryPercent, 25)
        await engine.send(Command(.pause, by: "lee", text: "checking a graph"))
        s = await engine.state
        XCTAssertEqual(s.paused?.reason, "checking a graph")
        let again = await engine.send(Command(.pause, by: "maya"))
        XCTAssertEqual(again, .rejected("already paused by lee"))
        await engine.send(Command(.revert, by: "lee", text: "5xx in the logs"))
        s = await engine.state
        XCTAssertEqual(s.outcome, .reverted)
        XCTAssertEqual(s.canaryPercent, 0)
        XCTAssertEqual(s.log.last?.kind, .alert)
        let promote = await engine.send(Command(.promote, by: "maya"))
        XCTAssertEqual(promote.refusal, "the deploy was reverted: press R to retry it first")
        s = await engine.state
        XCTAssertEqual(s.log.last?.text, "promote by maya refused: the deploy was reverted: press R to retry it first")
        await engine.send(Command(.retry, by: "lee"))
        s = await engine.state
        XCTAssertEqual(s.phase, .rolling)
        XCTAssertEqual(s.stepIndex, 0)
        XCTAssertEqual(s.canaryPercent, 1)
    }

    func testARouterThatDoesNotConfirmPausesTheDeployAndNeverShowsTheWeight() async {
        let router = FlakyRouter()
        let (engine, clock) = makeEngine(.good, router: router)
        await run(engine, clock, to: 60, until: { $0.stepIndex == 0 })
        router.fail("connection refused")
        await engine.send(Command(.promote, by: "lee"))
        var s = await engine.state
        XCTAssertEqual(s.stepIndex, 0, "no step claimed without the router")
        XCTAssertEqual(s.canaryPercent, 1, "the screen shows what the router confirmed")
        XCTAssertEqual(s.wanted.last?.percent, 5)
        XCTAssertEqual(s.paused?.by, "engine")
        XCTAssertEqual(s.routerProblem, "flaky: connection refused")
        router.fail(nil)
        router.lie(true)
        await engine.send(Command(.promote, by: "lee"))
        s = await engine.state
        XCTAssertEqual(s.stepIndex, 0)
        XCTAssertEqual(s.canaryPercent, 4, "what the router reported")
        router.lie(false)
        await engine.send(Command(.promote, by: "lee"))
        s = await engine.state
        XCTAssertEqual(s.stepIndex, 1)
        XCTAssertNil(s.routerProblem)
        XCTAssertNil(s.paused)
    }

    func testASlowSubscriberDoesNotStallTheEngineOrOthers() async {
        let (engine, clock) = makeEngine(.steady)
        let stalled = await engine.subscribe(buffer: 8)   // never read
        let reader = await engine.subscribe(buffer: 100_000)
        let collected = Task { () -> [Int] in
            var seqs: [Int] = []
            for await e in reader { seqs.append(e.seq) }
            return seqs
        }
        await run(engine, clock, to: 300)
        let last = await engine.state.lastSeq
        await engine.finishSubscriptions()
        let seqs = await collected.value
        XCTAssertEqual(seqs, Array(0...last), "the reader saw every event in order")
        let dropped = await engine.droppedDeliveries
        XCTAssertEqual(dropped, last + 1 - 8, "the stalled one kept only its newest 8")
        var kept: [Int] = []
        for await e in stalled { kept.append(e.seq) }
        XCTAssertEqual(kept, Array((last - 7)...last), "and can see the gap in seq")
    }
}

final class LinesBox: @unchecked Sendable {
    private let lock = Lock()
    private var store: [String] = []
    func append(_ s: String) { lock.withLock { store.append(s) } }
    var lines: [String] { lock.withLock { store } }
}

/// The judge at work in the engine, on the demo's scenarios.
final class JudgeInEngineTests: XCTestCase {
    let base = SimulationSettings.fridayAfternoon

    func finish(_ scenario: Scenario, seed: UInt64, judge: CanaryJudge = CanaryJudge(), pauseAt: Int? = nil, until: Double = 1500) async -> DeployState {
        let settings = SimulationSettings(scenario: scenario, seed: seed)
        let clock = ManualClock(base)
        let engine = Engine(deployID: "j", clock: clock, router: SimulatedRouter(), metrics: SimulatedTraffic(settings: settings),
                            sources: [SimulatedDeploy(settings: settings)], judge: judge)
        var t = 0.0, paused = false
        while t <= until {
            clock.set(base + t)
            await engine.advance(to: base + t)
            let s = await engine.state
            if s.isFinished { return s }
            if let at = pauseAt, !paused, s.stepIndex == at {
                paused = true
                await engine.send(Command(.pause, by: "ana", text: "lunch"))
            }
            t += 1
        }
        return await engine.state
    }

    func testTheDemoScenariosEndAsTheyShouldOnEverySeed() async {
        var promoted = 0, badReverted = 0, slowReverted = 0
        let seeds = 200
        for seed in 1...UInt64(seeds) {
            if await finish(.good, seed: seed).outcome == .promoted { promoted += 1 }
            if await finish(.badCanary, seed: seed).outcome == .reverted { badReverted += 1 }
            if await finish(.slowCanary, seed: seed).outcome == .reverted { slowReverted += 1 }
        }
        print("demo scenarios over \(seeds) seeds: good promoted \(promoted), bad-canary reverted \(badReverted), slow-canary reverted \(slowReverted)")
        XCTAssertGreaterThanOrEqual(promoted, 198, "good scenario promoted on \(promoted) of \(seeds) seeds")
        XCTAssertEqual(badReverted, seeds, "bad canary reverted on \(badReverted) of \(seeds)")
        XCTAssertEqual(slowReverted, seeds, "slow canary reverted on \(slowReverted) of \(seeds)")
    }

    func testAFailingCanaryIsRevertedWhilePausedByAPerson() async {
        // Paused by a person as the 5% step starts; the bad version shows there.
        let s = await finish(.badCanary, seed: 3, pauseAt: 1)
        XCTAssertEqual(s.outcome, .reverted, "the judge keeps judging while paused")
        XCTAssertEqual(s.stepIndex, 1)
    }

    func testAFailingCanaryWhilePausedIsFlaggedLoudlyWhenTheJudgeOnlyHolds() async {
        let s = await finish(.badCanary, seed: 3, judge: CanaryJudge(onFail: .pause), pauseAt: 1, until: 400)
        XCTAssertNil(s.outcome)
        XCTAssertEqual(s.judgement?.verdict, .fail)
        XCTAssertTrue(s.log.contains { $0.kind == .alert && $0.text.hasPrefix("FAIL while paused: errors: v2.4.0 ") }, s.log.suffix(6).map(\.text).joined(separator: "\n"))
    }
}
