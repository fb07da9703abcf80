import FridayCore
import FridayEngine

/// The simulated pipeline and teammates: emits stage events on a seeded schedule and has
/// two colleagues chat and, in the good scenario, promote the step held for a human.
public final class SimulatedDeploy: EventSource, @unchecked Sendable {
    struct ScheduledStage {
        var name: String
        var duration: Double
        var lines: [String]
    }

    private let settings: SimulationSettings
    private let lock = Lock()
    private var started: Timestamp?
    private var stages: [ScheduledStage] = []
    private var emittedStageEvents = 0
    private var schedule: [(at: Double, payload: EventPayload)] = []
    private var said: Set<String> = []
    /// Benchmark scenario: when the report first named a faster candidate.
    private var winnerSeenAt: Timestamp?

    public init(settings: SimulationSettings) {
        self.settings = settings
        var rng = SeededGenerator(seed: settings.seed)
        let quick = settings.scenario == .steady
        func dur(_ base: Double) -> Double { quick ? 1 : (base * (0.8 + 0.4 * rng.unit())).rounded() }
        let build = 4800 + Int(rng.unit() * 199)
        let tests = 1100 + Int(rng.unit() * 300)
        let digest = String(rng.next(), radix: 16)
        stages = [
            ScheduledStage(name: "wait for build", duration: dur(8), lines: [
                "polling ci for \(settings.service)@\(settings.to.commit)",
                "build #\(build) queued",
                "build #\(build) running: unit tests",
                "build #\(build) passed: \(tests) tests",
            ]),
            ScheduledStage(name: "process build", duration: dur(8), lines: [
                "fetching artifacts (38.2 MB)",
                "verifying signature: ok",
                "scanning dependencies: 0 critical, 2 low",
                "writing release manifest",
            ]),
            ScheduledStage(name: "build container", duration: dur(14), lines: [
                "Step 1/6 : FROM distroless/base",
                "Step 2/6 : COPY build/\(settings.service) /app/",
                "Step 3/6 : COPY config/ /app/config/",
                "Step 4/6 : USER nonroot",
                "Step 5/6 : EXPOSE 8080",
                "Step 6/6 : ENTRYPOINT [\"/app/\(settings.service)\"]",
                "Successfully built \(digest.prefix(12))",
                "tagged \(settings.service):\(settings.to.name)",
            ]),
            ScheduledStage(name: "release container", duration: dur(6), lines: [
                "pushing \(settings.service):\(settings.to.name) (3 layers)",
                "pushed sha256:\(digest)",
                "release \(settings.to.name) registered with the router",
            ]),
        ]
        if let names = settings.stageNames {
            // Stages named in a deploy file: the demo's lines where a name matches, generic ones elsewhere.
            let known = Dictionary(stages.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            stages = names.map { name in
                known[name] ?? ScheduledStage(name: name, duration: dur(6), lines: ["\(name): running", "\(name): done"])
            }
        }
    }

    public func poll(at time: Timestamp, state: DeployState) async -> [SourceOutput] {
        lock.withLock { step(time, state) }
    }

    private func step(_ t: Timestamp, _ s: DeployState) -> [SourceOutput] {
        var out: [SourceOutput] = []
        if started == nil, s.phase != .idle, let begun = s.startedAt {
            // Resuming from a log: the deploy already started; skip what already happened.
            started = begun
            buildSchedule()
            let done = (s.lastEventAt ?? t) - begun
            while emittedStageEvents < schedule.count, schedule[emittedStageEvents].at <= done { emittedStageEvents += 1 }
        }
        if started == nil {
            started = t
            if settings.simulateTeam {
                out.append(.event(.presenceJoined(who: "lee", role: "dev")))
                out.append(.event(.presenceJoined(who: "maya", role: "sre")))
            }
            out.append(.event(.deployStarted(service: settings.service, from: settings.from, to: settings.to,
                                             plan: settings.effectivePlan, stages: stages.map(\.name), by: settings.startedBy)))
            buildSchedule()
        }
        let elapsed = t - started!
        if settings.runStages, s.cancelRequested, let st = s.runningStage {
            // A simulated stage is cancelled like a real one: it ends, and nothing after it runs.
            out.append(.event(.stageOutput(stage: st.name, line: "[friday] cancelled by \(s.cancelRequestedBy ?? "someone")")))
            out.append(.event(.stageFinished(stage: st.name, status: .cancelled, seconds: max(0, t - (st.startedAt ?? t)))))
            emittedStageEvents = schedule.count
            return out
        }
        while emittedStageEvents < schedule.count, schedule[emittedStageEvents].at <= elapsed {
            out.append(.event(schedule[emittedStageEvents].payload))
            emittedStageEvents += 1
        }
        if settings.simulateTeam { out += team(t, s, elapsed) }
        return out
    }

    private func buildSchedule() {
        guard settings.runStages else { return }
        var at = 0.0
        for st in stages {
            schedule.append((at, .stageStarted(stage: st.name)))
            for (i, line) in st.lines.enumerated() {
                schedule.append((at + st.duration * Double(i + 1) / Double(st.lines.count + 1), .stageOutput(stage: st.name, line: line)))
            }
            at += st.duration
            schedule.append((at, .stageFinished(stage: st.name, status: .succeeded, seconds: st.duration)))
        }
    }

    /// Teammates: each line once, when its moment comes.
    private func team(_ t: Timestamp, _ s: DeployState, _ elapsed: Double) -> [SourceOutput] {
        var out: [SourceOutput] = []
        func once(_ id: String, _ cond: Bool, _ o: @autoclosure () -> SourceOutput) {
            guard cond, !said.contains(id) else { return }
            said.insert(id)
            let output = o()
            // After a restart, a line already in the log is not said again.
            if case let .event(.chatMessage(from, text)) = output, s.log.contains(where: { $0.kind == .chat && $0.who == from && $0.text == text }) { return }
            out.append(output)
        }
        let sinceStep = s.stepStartedAt.map { t - $0 } ?? 0
        switch settings.scenario {
        case .benchmark:
            once("intro", elapsed >= 2, .event(.chatMessage(from: "lee", text: "benchmarking two rewrites of the cart query (#490 as v2.4.0, #491 as v2.4.0-b) against v2.3.0")))
        case .threeWay:
            once("intro", elapsed >= 2, .event(.chatMessage(from: "lee", text: "two retry strategies side by side (#482 as v2.4.0, #483 as v2.4.0-b); the judge compares each with v2.3.0")))
        default:
            once("intro", elapsed >= 2, .event(.chatMessage(from: "lee", text: "shipping the checkout retry fix (#482), small diff")))
        }
        if settings.scenario == .benchmark, case .rolling = s.phase, s.stepIndex == 0, s.paused == nil, s.pending == nil,
           let report = Benchmark.evaluate(s), let winner = report.metrics.compactMap(\.fastest).first {
            // Once the report names a faster candidate: the slower one out, then promote.
            let seen = winnerSeenAt ?? t
            winnerSeenAt = seen
            let losers = s.liveCandidates.map(\.name).filter { $0 != winner }
            once("verdict", true, .event(.chatMessage(from: "maya", text: "the benchmark says \(winner) is faster; taking \(losers.joined(separator: ", ")) out, then promoting")))
            if let loser = losers.first {
                once("takeout", t - seen >= 5, .command(Command(.revert, by: "maya", text: "benchmark: \(winner) is faster", candidate: loser)))
            } else {
                once("promote-winner", t - seen >= 10, .command(Command(.promote, by: "maya", text: "benchmark: \(winner) is faster")))
            }
        }
        if case .rolling = s.phase, let i = s.stepIndex {
            let firstSplit = s.isMultiway ? weightsText(s.wanted.filter { s.isCandidate($0.version) }) : "the \(s.plan.steps.first?.weight ?? 1)%"
            once("watch1", i == 0 && sinceStep >= 5, .event(.chatMessage(from: "maya", text: "watching \(firstSplit)")))
            if settings.scenario.isHealthy || settings.scenario == .steady {
                once("flat", i == 1 && sinceStep >= 10, .event(.chatMessage(from: "lee", text: "error rate flat on \(s.to.name) so far")))
            }
            if settings.scenario == .steady {
                once("steady", sinceStep >= 5, .event(.chatMessage(from: "maya", text: "holding here for the load test")))
            }
            if settings.scenario.isHealthy || settings.scenario == .threeWay, s.plan.steps[i].pause == .untilPromoted, s.paused == nil {
                let here = s.isMultiway ? weightsText(s.wanted.filter { $0.percent > 0 }) : "\(s.plan.steps[i].weight)%"
                once("soon", sinceStep >= 15, .event(.chatMessage(from: "maya", text: "\(here) looks healthy; promoting in a minute unless someone objects")))
                once("promote\(i)", sinceStep >= 60, .command(Command(.promote, by: "maya", text: "healthy for a minute")))
            }
            if let p = s.paused, p.by == "judge", t - p.at >= 6 {
                once("hold", true, .event(.chatMessage(from: "maya", text: "the judge is holding \(s.to.name): \(p.reason)")))
            }
        }
        if case let .finished(o) = s.phase, let f = s.finishedAt, t - f >= 3 {
            once("done", o == .promoted, .event(.chatMessage(from: "lee", text: "\(s.candidateNames()) is out, thanks all 🎉")))
            once("reverted", o == .reverted, .event(.chatMessage(from: "maya", text: "\(s.to.name) is out of rotation; lee, can you look before we retry?")))
            if o == .reverted, t - f >= 8 { once("ack", true, .event(.chatMessage(from: "lee", text: "ack, looking at the diff"))) }
        }
        return out
    }
}
