import Foundation
import FridayCore
import FridayEngine
import FridayIntegrations
import XCTest

/// A router that checks, on every call, that the log on disk already explains the weights
/// (the last `traffic.set` holds them), and remembers every call.
final class LogCheckingRouter: TrafficRouter, @unchecked Sendable {
    let name = "checking"
    let logPath: String
    private let lock = Lock()
    private var weights: [VersionWeight]
    private(set) var calls: [[VersionWeight]] = []
    private(set) var unexplained: [String] = []
    init(logPath: String, weights: [VersionWeight]) { self.logPath = logPath; self.weights = weights }
    var keepsWeightsAcrossRestart: Bool { true }
    func currentWeights() async throws -> [VersionWeight]? { lock.withLock { weights } }
    func setWeights(_ w: [VersionWeight]) async throws -> [VersionWeight] {
        let lastSet = (try? EventLog.readEvents(path: logPath).events)?.last { if case .trafficSet = $0.payload { return true }; return false }
        lock.withLock {
            calls.append(w)
            if case let .trafficSet(logged, _)? = lastSet?.payload, Set(logged) == Set(w) {} else {
                unexplained.append("set \(w) with the log's last traffic.set \(String(describing: lastSet?.payload))")
            }
            weights = w
        }
        return w
    }
    var current: [VersionWeight] { lock.withLock { weights } }
}

/// A router whose calls take `delay` real seconds (cancellable), like a slow HAProxy.
final class SlowRouter: TrafficRouter, @unchecked Sendable {
    let name = "slow"
    private let lock = Lock()
    private var weights: [VersionWeight] = []
    private var delay: Double = 0
    func setDelay(_ d: Double) { lock.withLock { delay = d } }
    var current: [VersionWeight] { lock.withLock { weights } }
    func currentWeights() async throws -> [VersionWeight]? { lock.withLock { weights } }
    func setWeights(_ w: [VersionWeight]) async throws -> [VersionWeight] {
        let d = lock.withLock { delay }
        if d > 0 { try await Task.sleep(for: .seconds(d)) }
        lock.withLock { weights = w }
        return w
    }
}

/// A metrics source that never answers (a stalled Prometheus), unless cancelled.
struct StalledMetrics: MetricsSource {
    func sample(at time: Timestamp, state: DeployState) async throws -> [MetricsSample] {
        try await Task.sleep(for: .seconds(3600))
        return []
    }
}

/// Metrics given by the test, one call at a time.
final class ScriptedMetrics: MetricsSource, @unchecked Sendable {
    private let lock = Lock()
    private var next: [MetricsSample] = []
    func set(_ s: [MetricsSample]) { lock.withLock { next = s } }
    func sample(at time: Timestamp, state: DeployState) async throws -> [MetricsSample] { lock.withLock { next } }
}

final class EngineTrustTests: XCTestCase {
    let base = SimulationSettings.fridayAfternoon
    var dir: String!

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "friday-trust-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    static let shortPlan = RolloutPlan(steps: [RolloutStep(weight: 10, pause: .seconds(20)), RolloutStep(weight: 50, pause: .untilPromoted),
                                               RolloutStep(weight: 100, pause: .seconds(0))])

    func settings(_ scenario: Scenario, seed: UInt64 = 1) -> SimulationSettings {
        var s = SimulationSettings(scenario: scenario, seed: seed)
        s.plan = EngineTrustTests.shortPlan
        s.stageNames = ["release container"]
        s.simulateTeam = false
        s.requestsPerSecond = 2000
        return s
    }

    /// Runs a deploy into a log, pressing the given keys at the given seconds.
    func record(_ path: String, _ scenario: Scenario, seconds: Int, keys: [Int: Command]) async throws {
        let (log, _) = try EventLog.open(path: path)
        defer { log.close() }
        let clock = ManualClock(base)
        let sim = settings(scenario)
        let router = SimulatedRouter()
        let engine = Engine(deployID: "crash", clock: clock, router: router, metrics: SimulatedTraffic(settings: sim),
                            sources: [SimulatedDeploy(settings: sim)], judge: CanaryJudge(minRequests: 50), log: log)
        for t in 0...seconds {
            clock.set(base + Double(t))
            if let c = keys[t] { await engine.send(c) }
            await engine.advance(to: base + Double(t))
            if await engine.state.isFinished, keys.keys.allSatisfy({ $0 < t }) { break }
        }
    }

    /// The crash-point test: a real log cut after every line (and inside some lines),
    /// each cut opened and resumed against a router left at the cut's worst moment.
    func testEveryCrashPointKeepsRevertsAcceptedCommandsAndTheRouterExplained() async throws {
        var tried = 0, broken: [String] = []
        let stories: [(String, Scenario, [Int: Command])] = [
            ("human-revert", .good, [30: Command(.promote, by: "ana", text: nil), 40: Command(.pause, by: "ana", text: "look"),
                                     44: Command(.resume, by: "ana"), 50: Command(.revert, by: "ana", text: "p99 up")]),
            ("judge-revert", .badCanary, [:]),
            ("promoted", .good, [30: Command(.promote, by: "ana"), 34: Command(.promoteFull, by: "bo", text: "ship")]),
        ]
        for (name, scenario, keys) in stories {
            let full = dir + "/\(name).jsonl"
            try await record(full, scenario, seconds: 200, keys: keys)
            let bytes = try Data(contentsOf: URL(fileURLWithPath: full))
            let lineEnds = bytes.enumerated().filter { $0.element == 0x0A }.map { $0.offset + 1 }
            XCTAssertGreaterThan(lineEnds.count, 40, name)
            var cuts = [0] + lineEnds
            // Torn writes too: a cut inside every tenth line.
            for (i, end) in lineEnds.enumerated() where i % 10 == 5 { cuts.append(end - 7) }
            for cut in cuts {
                tried += 1
                let path = dir + "/\(name)-cut\(cut).jsonl"
                try bytes.prefix(cut).write(to: URL(fileURLWithPath: path))
                let problem = try await resumeAndCheck(path, scenario, story: name, cut: cut)
                if let problem { broken.append(problem) }
                for suffix in ["", ".broken", ".lock", ".snapshot"] { try? FileManager.default.removeItem(atPath: path + suffix) }
            }
        }
        XCTAssertGreaterThan(tried, 200)
        XCTAssertEqual(broken, [], "\(broken.count) of \(tried) crash points broke an invariant")
        print("crash points: \(tried) tried, \(broken.count) broke an invariant")
    }

    /// Opens a cut log, resumes it for 120 s, and says what went wrong, if anything.
    func resumeAndCheck(_ path: String, _ scenario: Scenario, story: String, cut: Int) async throws -> String? {
        let opened: (EventLog, EventLog.Recovery)
        do { opened = try EventLog.open(path: path) } catch { return "\(story) cut \(cut): the log does not open: \(error)" }
        let (log, recovery) = opened
        defer { log.close() }
        let before = recovery.state
        // What the log promised before the crash. A recorded fail verdict of the current step
        // (this judge reverts on a fail) is a revert decided, even before its traffic.set.
        let failRecorded = before.phase == .rolling && before.judgement.map { $0.verdict == .fail && $0.step == before.stepIndex } == true
        let revertDecided = before.isReverting || before.outcome == .reverted || failRecorded
        let promisedStep: Int? = { if case let .step(i)? = before.pending { return i }; return nil }()
        // Worst case: the router already holds the last weights the log asked for.
        let lastWanted = before.wanted.isEmpty ? [VersionWeight(version: "v2.3.0", percent: 100), VersionWeight(version: "v2.4.0", percent: 0)] : before.wanted
        let router = LogCheckingRouter(logPath: path, weights: lastWanted)
        let resumeAt = (before.lastEventAt ?? base) + 5
        let clock = ManualClock(resumeAt)
        let sim = settings(scenario, seed: 99)
        let engine = Engine(deployID: "crash", clock: clock, router: router, metrics: SimulatedTraffic(settings: sim),
                            sources: [SimulatedDeploy(settings: sim)], judge: CanaryJudge(minRequests: 50), log: log)
        if before.lastSeq >= 0 { await engine.restore(before) }
        await engine.resumeAfterRestart()
        var reachedStep = before.stepIndex ?? -1
        for t in 0..<120 {
            clock.set(resumeAt + Double(t))
            await engine.advance(to: resumeAt + Double(t))
            let s = await engine.state
            reachedStep = max(reachedStep, s.stepIndex ?? -1)
            // Nobody else promotes here: a step the log had not promised is not taken by a human.
            if s.isFinished { break }
        }
        let after = await engine.state
        if let f = await engine.fatal { return "\(story) cut \(cut): engine stopped: \(f)" }
        if let u = router.unexplained.first { return "\(story) cut \(cut): a router weight the log does not explain: \(u)" }
        if revertDecided {
            if let bad = router.calls.first(where: { ($0.first { $0.version == "v2.4.0" }?.percent ?? 0) > 0 }) {
                return "\(story) cut \(cut): a decided revert was undone: the router was set to \(bad)"
            }
            if after.outcome != .reverted { return "\(story) cut \(cut): a decided revert ended \(String(describing: after.outcome)) (phase \(after.phase))" }
        }
        if let i = promisedStep, !revertDecided, reachedStep < i, after.outcome != .reverted {
            return "\(story) cut \(cut): an accepted move to step \(i + 1) was lost (reached \(reachedStep + 1))"
        }
        // The cut log and what was added open again.
        do { log.close(); _ = try EventLog.readEvents(path: path) } catch { return "\(story) cut \(cut): the resumed log does not read back: \(error)" }
        // A recorded fail is acted on first: no verdict is judged again before the revert's weights.
        if failRecorded, !before.isReverting {
            let added = try EventLog.readEvents(path: path).events.filter { $0.seq > before.lastSeq }
            let firstSet = added.firstIndex { if case .trafficSet = $0.payload { return true }; return false }
            let firstVerdict = added.firstIndex { if case .analysisVerdict = $0.payload { return true }; return false }
            guard let firstSet, case .trafficSet(_, .revert?) = added[firstSet].payload else {
                return "\(story) cut \(cut): a recorded fail verdict was not reverted first (\(added.prefix(4).map(\.payload.type)))"
            }
            if let v = firstVerdict, v < firstSet { return "\(story) cut \(cut): the step was judged again before the recorded fail was reverted" }
        }
        if let p = try EventLog.readEvents(path: path).problem { return "\(story) cut \(cut): the resumed log has a problem: \(p)" }
        return nil
    }

    /// Issue 25, item 1: a log cut right after the judge's fail verdict, before the revert's
    /// traffic.set, resumed with the metrics down: the revert is the first thing the restart
    /// does, with no tick and no new verdict (before, the canary kept its share).
    func testARecordedFailVerdictIsRevertedFirstAtRestartWhateverTheMetrics() async throws {
        let path = dir + "/fail-cut.jsonl"
        try await record(path, .badCanary, seconds: 200, keys: [:])
        var events = try EventLog.readEvents(path: path).events
        let verdict = try XCTUnwrap(events.firstIndex { if case .analysisVerdict(_, .fail, _, _) = $0.payload { return true }; return false })
        events = Array(events[...verdict])
        try (events.map { EventLog.line(for: $0) }.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let (log, recovery) = try EventLog.open(path: path)
        XCTAssertFalse(recovery.state.isReverting, "the cut is before the revert began")
        let canaryShare = try XCTUnwrap(recovery.state.wanted.first { $0.version == "v2.4.0" }?.percent)
        XCTAssertGreaterThan(canaryShare, 0)
        let router = LogCheckingRouter(logPath: path, weights: recovery.state.wanted)
        let clock = ManualClock((recovery.state.lastEventAt ?? base) + 3)
        let engine = Engine(deployID: "crash", clock: clock, router: router, metrics: nil, sources: [], judge: CanaryJudge(minRequests: 50), log: log)
        await engine.restore(recovery.state)
        await engine.resumeAfterRestart()
        let s = await engine.state
        XCTAssertEqual(s.outcome, .reverted, "reverted by the restart itself, before any tick")
        XCTAssertEqual(router.current.first { $0.version == "v2.4.0" }?.percent, 0)
        XCTAssertEqual(router.calls.count, 1, "one router call: the revert (\(router.calls))")
        func verdicts(_ list: [DeployEvent]) -> Int { list.filter { if case .analysisVerdict = $0.payload { return true }; return false }.count }
        XCTAssertEqual(verdicts(try EventLog.readEvents(path: path).events), verdicts(events), "the verdict is not judged again")
        log.close()
    }

    func testARevertIsTerminalAfterACrashBetweenItsWeightsAndItsEnd() async throws {
        // A crafted log: a human revert cut after its traffic.set, before deploy.finished.
        let path = dir + "/revert-cut.jsonl"
        try await record(path, .good, seconds: 60, keys: [30: Command(.revert, by: "ana", text: "errors")])
        var events = try EventLog.readEvents(path: path).events
        let cut = events.firstIndex { if case .deployFinished = $0.payload { return true }; return false }!
        events = Array(events[..<cut])
        try (events.map { EventLog.line(for: $0) }.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        guard case .trafficSet(_, .revert?)? = events.last(where: { if case .trafficSet = $0.payload { return true }; return false })?.payload else {
            return XCTFail("the revert's traffic.set is not in the cut log")
        }
        let (log, recovery) = try EventLog.open(path: path)
        let router = LogCheckingRouter(logPath: path, weights: [VersionWeight(version: "v2.3.0", percent: 100), VersionWeight(version: "v2.4.0", percent: 0)])
        let clock = ManualClock((recovery.state.lastEventAt ?? base) + 3)
        let engine = Engine(deployID: "crash", clock: clock, router: router, metrics: nil, sources: [], judge: nil, log: log)
        await engine.restore(recovery.state)
        await engine.resumeAfterRestart()
        for t in 0..<200 { clock.advance(by: 1); await engine.advance(to: clock.now()); _ = t }
        let s = await engine.state
        XCTAssertEqual(s.outcome, .reverted)
        XCTAssertEqual(router.current.first { $0.version == "v2.4.0" }?.percent, 0)
        XCTAssertTrue(router.calls.allSatisfy { ($0.first { $0.version == "v2.4.0" }?.percent ?? 0) == 0 }, "\(router.calls)")
        let promote = await engine.send(Command(.promote, by: "bo"))
        XCTAssertNotNil(promote.refusal)
        log.close()
    }

    func testALogWithNoDeployStartedYetGoesOnFromItsLastSequenceNumber() async throws {
        let path = dir + "/early.jsonl"
        do {
            let (log, _) = try EventLog.open(path: path)
            try log.append(DeployEvent(seq: 0, ts: base, deploy: "d", payload: .presenceJoined(who: "ana", role: "operator")), state: DeployState())
            log.close() // killed before deploy.started
        }
        for round in 0..<3 {
            let (log, recovery) = try EventLog.open(path: path)
            XCTAssertEqual(recovery.state.lastSeq, round, "round \(round) reads every earlier line")
            let engine = Engine(deployID: "d", clock: ManualClock(base + Double(round)), router: SimulatedRouter(), metrics: nil, sources: [], judge: nil, log: log)
            await engine.restore(recovery.state)
            await engine.ingest(.chatMessage(from: "ana", text: "round \(round)"))
            log.close()
        }
        XCTAssertNil(try EventLog.readEvents(path: path).problem)
    }

    func testASecondWriterIsRefusedAndToldWhoHoldsTheLog() throws {
        let path = dir + "/locked.jsonl"
        let (first, _) = try EventLog.open(path: path)
        XCTAssertThrowsError(try EventLog.open(path: path)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("another friday is running this deploy (pid \(getpid()) on "), text)
            XCTAssertTrue(text.contains(" since 20"), text)
        }
        first.close()
        let (again, _) = try EventLog.open(path: path)
        again.close()
    }

    func testARevertIsCarriedOutAtOnceWhileTheMetricsSourceIsStalled() async throws {
        let router = SlowRouter()
        let clock = ScaledClock(base: base, speed: 1)
        let sim = settings(.good)
        let engine = Engine(deployID: "stall", clock: clock, router: router, metrics: StalledMetrics(), sources: [SimulatedDeploy(settings: sim)],
                            judge: nil, metricsDeadline: 30)
        let driver = Task { await engine.run() }
        defer { driver.cancel() }
        let deadline = ContinuousClock.now + .seconds(30)
        while await engine.state.stepIndex != 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        XCTAssertEqual(router.current.first { $0.version == "v2.4.0" }?.percent, 10)
        try await Task.sleep(for: .milliseconds(1500)) // a metrics fetch is now stuck
        let pressed = ContinuousClock.now
        await engine.submit(Command(.revert, by: "ana", text: "errors"))
        while router.current.first(where: { $0.version == "v2.4.0" })?.percent != 0, ContinuousClock.now - pressed < .seconds(5) {
            try await Task.sleep(for: .milliseconds(5))
        }
        let took = ContinuousClock.now - pressed
        XCTAssertLessThan(took, .seconds(1), "r to weight 0 took \(took)")
        print("revert with a stalled metrics source: weight 0 after \(took)")
    }

    func testARevertCancelsAStepChangeStillWaitingForTheRouter() async throws {
        let router = SlowRouter()
        let clock = ManualClock(base)
        let sim = settings(.good)
        let engine = Engine(deployID: "slow", clock: clock, router: router, metrics: nil, sources: [SimulatedDeploy(settings: sim)], judge: nil)
        var t = 0.0
        while await engine.state.stepIndex != 0, t < 60 { clock.set(base + t); await engine.advance(to: base + t); t += 1 }
        router.setDelay(20)
        let promoting = Task { await engine.send(Command(.promote, by: "bo")) }
        try await Task.sleep(for: .milliseconds(200))
        router.setDelay(0)
        let pressed = ContinuousClock.now
        let decision = await engine.send(Command(.revert, by: "ana", text: "stop"))
        XCTAssertNil(decision.refusal)
        XCTAssertLessThan(ContinuousClock.now - pressed, .seconds(1))
        _ = await promoting.value
        let s = await engine.state
        XCTAssertEqual(s.outcome, .reverted)
        XCTAssertNotEqual(s.stepIndex, 1, "the cancelled step never started")
        XCTAssertEqual(router.current.first { $0.version == "v2.4.0" }?.percent, 0)
    }

    func testWeightsChangedByHandAreRecordedAsDriftAndHoldTheRollout() async throws {
        let router = SimulatedRouter()
        let clock = ManualClock(base)
        let sim = settings(.good)
        let engine = Engine(deployID: "drift", clock: clock, router: router, metrics: SimulatedTraffic(settings: sim), sources: [SimulatedDeploy(settings: sim)],
                            judge: CanaryJudge(minRequests: 50))
        var t = 0.0
        func tick() async { clock.set(base + t); await engine.advance(to: base + t); t += 1 }
        while await engine.state.stepIndex != 0, t < 60 { await tick() }
        await tick()
        let handEdit = [VersionWeight(version: "v2.3.0", percent: 50), VersionWeight(version: "v2.4.0", percent: 50)]
        router.setByHand(handEdit)
        await tick() // one tick
        var s = await engine.state
        XCTAssertEqual(s.drift?.observed.map(\.percent).sorted(), [50, 50], "drift seen within one tick")
        XCTAssertEqual(s.canaryPercent, 50, "the screen shows what was read back")
        XCTAssertEqual(s.paused?.by, "engine")
        XCTAssertTrue(s.paused?.reason.contains("weights changed outside friday") ?? false, s.paused?.reason ?? "")
        XCTAssertTrue(s.log.contains { $0.kind == .alert && $0.text.contains("the router reports v2.3.0 50%, v2.4.0 50%; friday set v2.3.0 90%, v2.4.0 10%") })
        // The step's pause runs out: nothing moves on while drifted and held.
        for _ in 0..<40 { await tick() }
        s = await engine.state
        XCTAssertEqual(s.stepIndex, 0)
        XCTAssertEqual(Set(router.current), Set(handEdit), "friday does not fight the hand edit by itself")
        let drifts = s.log.filter { $0.text.hasPrefix("weights changed outside friday") }.count
        XCTAssertEqual(drifts, 1, "recorded once, not every tick")
        // Resume puts the logged weights back.
        await engine.send(Command(.resume, by: "ana"))
        s = await engine.state
        XCTAssertNil(s.drift)
        XCTAssertEqual(router.current.first { $0.version == "v2.4.0" }?.percent, 10)
    }

    func testARouterFaultDoesNotLogTrafficSetEverySecond() async throws {
        let router = FlakyRouter()
        let clock = ManualClock(base)
        let sim = settings(.good)
        let engine = Engine(deployID: "f", clock: clock, router: router, metrics: nil, sources: [SimulatedDeploy(settings: sim)], judge: nil)
        router.fail("connection refused")
        let box = LinesBox()
        await engine.addSink { e in if case .trafficSet = e.payload { box.append(e.jsonLine) } }
        for t in 0..<60 { clock.set(base + Double(t)); await engine.advance(to: base + Double(t)) }
        XCTAssertEqual(box.lines.count, 1, box.lines.joined(separator: "\n"))
        router.fail(nil)
        for t in 60..<63 { clock.set(base + Double(t)); await engine.advance(to: base + Double(t)) }
        let step = await engine.state.stepIndex
        XCTAssertEqual(step, 0, "the pending step completes once the router answers")
    }

    func testOutOfRangeMetricsAreUnavailableNeverASample() async throws {
        let metrics = ScriptedMetrics()
        let clock = ManualClock(base)
        let sim = settings(.good)
        let engine = Engine(deployID: "m", clock: clock, router: SimulatedRouter(), metrics: metrics, sources: [SimulatedDeploy(settings: sim)], judge: CanaryJudge())
        var t = 0.0
        while await engine.state.stepIndex != 0, t < 60 { clock.set(base + t); await engine.advance(to: base + t); t += 1 }
        for (bad, named) in [(MetricsSample(version: "v2.4.0", requests: 10, errors: 1, p50: 1e300, p99: 1e300, window: 1), "p50"),
                             (MetricsSample(version: "v2.4.0", requests: -5, errors: 0, p50: 1, p99: 1, window: 1), "requests"),
                             (MetricsSample(version: "v2.4.0", requests: 10, errors: 11, p50: 1, p99: 1, window: 1), "errors"),
                             (MetricsSample(version: "v2.4.0", requests: 10, errors: 1, p50: 1, p99: .nan, window: 1), "p99")] {
            metrics.set([bad])
            clock.set(base + t); await engine.advance(to: base + t); t += 1
            let s = await engine.state
            XCTAssertTrue(s.metricsProblem?.contains(named) ?? false, "\(bad): \(s.metricsProblem ?? "nil")")
            XCTAssertEqual(s.stepTotals["v2.4.0"]?.requests ?? 0, 0, "never a sample")
        }
    }

    func testSubscribersSeeAnEventOnlyOnceItIsInTheLog() async throws {
        let path = dir + "/durable.jsonl"
        let (log, _) = try EventLog.open(path: path)
        defer { log.close() }
        let clock = ManualClock(base)
        let sim = settings(.good)
        let engine = Engine(deployID: "d", clock: clock, router: SimulatedRouter(), metrics: SimulatedTraffic(settings: sim),
                            sources: [SimulatedDeploy(settings: sim)], judge: nil, log: log)
        let early = LinesBox()
        let seen = LinesBox()
        await engine.addSink { e in
            seen.append("\(e.seq)")
            let onDisk = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            if !onDisk.contains("\"seq\":\(e.seq),") { early.append("\(e.seq) \(e.payload.type)") }
        }
        for t in 0..<80 { clock.set(base + Double(t)); await engine.advance(to: base + Double(t)) }
        XCTAssertGreaterThan(seen.lines.count, 100)
        XCTAssertEqual(early.lines, [], "published before they were written")
        XCTAssertEqual(seen.lines, (0..<seen.lines.count).map(String.init), "in order, each once")
    }

    func testSubmittedCommandsKeepTheirOrder() async throws {
        for round in 0..<8 {
            let clock = ManualClock(base)
            let sim = settings(.good)
            let engine = Engine(deployID: "o", clock: clock, router: SlowRouter(), metrics: nil, sources: [SimulatedDeploy(settings: sim)], judge: nil)
            var t = 0.0
            while await engine.state.stepIndex != 0, t < 60 { clock.set(base + t); await engine.advance(to: base + t); t += 1 }
            await engine.submit(Command(.pause, by: "ana"))
            await engine.submit(Command(.promoteFull, by: "bo"))
            _ = await engine.send(Command(.say, by: "ana", text: "done \(round)"))
            let log = await engine.state.log.filter { $0.kind == .command }.map(\.text)
            XCTAssertEqual(Array(log.prefix(2)), ["ana paused", "bo promoted to 100% before the judge's verdict"], "round \(round)")
        }
    }

    func testOutOfRangeLogLinesAreRefusedWithTheirLineNotACrash() throws {
        let cases: [(String, String)] = [
            (#""type":"stage.finished","data":{"stage":"a","status":"failed","seconds":1e19}"#, "seconds"),
            (#""type":"engine.restarted","data":{"down_seconds":1e300}"#, "down_seconds"),
            (#""type":"metrics.sample","data":{"version":"v","requests":1e19,"errors":0,"p50":1,"p99":1}"#, "requests"),
            (#""type":"metrics.sample","data":{"version":"v","requests":10,"errors":0,"p50":1e300,"p99":1}"#, "p50"),
            (#""type":"step.started","data":{"index":9,"weight":10,"pause":1e19}"#, "pause"),
            (#""type":"step.started","data":{"index":9,"weight":10,"pause":5}"#, "past the plan"),
        ]
        let started = DeployEvent(seq: 0, ts: base, deploy: "d", payload: .deployStarted(service: "s", from: VersionRef(name: "v1", commit: ""),
                                  to: VersionRef(name: "v2", commit: ""), plan: .standard, stages: [], by: "ana"))
        for (i, (body, named)) in cases.enumerated() {
            let raw = #"{"v":1,"seq":1,"ts":"2026-11-27T16:00:01.000Z","deploy":"d","#+body+"}"
            let crc = CRC32.hex(CRC32.checksum(raw.utf8))
            let line = String(raw.dropLast()) + #","crc":""# + crc + #""}"#
            let ok = DeployEvent(seq: 2, ts: base + 2, deploy: "d", payload: .chatMessage(from: "a", text: "after"))
            let path = dir + "/bad\(i).jsonl"
            try ([EventLog.line(for: started), line, EventLog.line(for: ok)].joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try EventLog.open(path: path)) { e in
                XCTAssertTrue("\(e)".contains("\(path):2:"), "\(e)")
                XCTAssertTrue("\(e)".contains(named), "\(named): \(e)")
            }
            let replay = try EventLog.readEvents(path: path)
            XCTAssertEqual(replay.events.count, 1)
            XCTAssertEqual(replay.problem?.line, 2)
        }
    }
}
