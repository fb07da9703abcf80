import FridayCore

/// The built-in simulated deploys of `friday demo`.
public enum Scenario: String, Sendable, CaseIterable {
    /// A healthy deploy: pipeline, canary steps, a teammate promotes the held step.
    case good
    /// The new version's error rate climbs from the 5% step on; the judge holds the rollout.
    case badCanary = "bad-canary"
    /// The new version's p99 latency climbs from the 5% step on.
    case slowCanary = "slow-canary"
    /// A short pipeline, then one canary step held forever with metrics every second (for measuring).
    case steady
    /// Two candidates against the baseline (5/5, 15/15, 33/33/34, then 50/50): the second's
    /// error rate climbs from the second step; the judge takes it out alone and the first goes on.
    case threeWay = "three-way"
    /// Benchmark mode: two refactors against the baseline at 34/33/33; the second is faster.
    /// The report names it; a teammate takes the slower one out and promotes.
    case benchmark
    /// A healthy deploy of a service with no errors at 1,000 req/s: each step passes on the
    /// canary's own count (0 errors in ~4,350 canary requests), the 1% step past its pause.
    case zeroErrors = "zero-errors"
    /// A healthy deploy at 200 req/s (0.4% errors): the 1% step cannot be decided at this
    /// traffic and is held for a person, saying what it needs (`friday check` warns of it).
    case lowTraffic = "low-traffic"

    public var plan: RolloutPlan {
        switch self {
        case .steady:
            return RolloutPlan(steps: [RolloutStep(weight: 10, pause: .untilPromoted), RolloutStep(weight: 100, pause: .seconds(0))])
        case .threeWay:
            let steps: [Scenario.Step] = [
                Scenario.Step(90, 5, 5, .seconds(30)), Scenario.Step(70, 15, 15, .seconds(45)),
                Scenario.Step(34, 33, 33, .untilPromoted), Scenario.Step(0, 50, 50, .seconds(0)),
            ]
            return Scenario.split(steps, benchmark: false)
        case .benchmark:
            let steps: [Scenario.Step] = [Scenario.Step(34, 33, 33, .untilPromoted), Scenario.Step(0, 50, 50, .untilPromoted)]
            return Scenario.split(steps, benchmark: true)
        default:
            return .standard
        }
    }
}

extension Scenario {
    /// The second candidate of the multi-version scenarios.
    public static let secondCandidate = VersionRef(name: "v2.4.0-b", commit: "51d7e0c")

    /// A healthy new version whose held step the simulated teammates promote.
    public var isHealthy: Bool { self == .good || self == .zeroErrors || self == .lowTraffic }

    /// The scenario's own traffic, where it is not the simulator's default.
    public var requestsPerSecond: Double? { self == .zeroErrors ? 1000 : self == .lowTraffic ? 200 : nil }
    public var baseErrorRate: Double? { self == .zeroErrors ? 0 : nil }

    /// Whether the scenario deploys several candidates.
    public var isMultiway: Bool { self == .threeWay || self == .benchmark }

    /// A step of a three-version scenario: the baseline's, the first and the second candidate's percent.
    struct Step {
        var base: Int, first: Int, second: Int
        var pause: StepPause
        init(_ base: Int, _ first: Int, _ second: Int, _ pause: StepPause) {
            self.base = base; self.first = first; self.second = second; self.pause = pause
        }
    }

    static func split(_ steps: [Step], benchmark: Bool) -> RolloutPlan {
        var out: [RolloutStep] = []
        for st in steps {
            let weights: [VersionWeight] = [VersionWeight(version: "v2.3.0", percent: st.base), VersionWeight(version: "v2.4.0", percent: st.first),
                                            VersionWeight(version: secondCandidate.name, percent: st.second)]
            out.append(RolloutStep(weight: 100 - st.base, pause: st.pause, weights: weights))
        }
        return RolloutPlan(steps: out, moreCandidates: [secondCandidate], benchmark: benchmark ? true : nil)
    }
}

/// Everything that makes a simulated deploy: the scenario, the seed, the names.
public struct SimulationSettings: Sendable, Equatable {
    public var scenario: Scenario
    public var seed: UInt64
    public var service = "checkout"
    public var from = VersionRef(name: "v2.3.0", commit: "4be1c07")
    public var to = VersionRef(name: "v2.4.0", commit: "9f2c1ab")
    /// Total requests per second across versions.
    public var requestsPerSecond = 5000.0
    /// Everyone's error rate when nothing is wrong.
    public var baseErrorRate = 0.004
    /// The new version's own error rate, when the file sets one (`canary_error_rate`): from
    /// `canaryErrorsAfter` seconds into rollout step `canaryErrorsFromStep` (0-based) on.
    public var canaryErrorRate: Double?
    public var canaryErrorsFromStep = 0
    public var canaryErrorsAfter = 0.0
    /// The rollout plan; nil for the scenario's own.
    public var plan: RolloutPlan?
    /// Pipeline stage names; nil for the demo's four.
    public var stageNames: [String]?
    /// Who starts the deploy.
    public var startedBy = "lee"
    /// Whether simulated teammates chat and promote (not when steering a real router).
    public var simulateTeam = true
    /// Whether the simulator runs the pipeline's stages (not when they are real commands).
    public var runStages = true

    public var effectivePlan: RolloutPlan { plan ?? scenario.plan }

    public init(scenario: Scenario = .good, seed: UInt64 = 1) {
        self.scenario = scenario
        self.seed = seed
        if let r = scenario.requestsPerSecond { requestsPerSecond = r }
        if let e = scenario.baseErrorRate { baseErrorRate = e }
    }

    /// 16:00 UTC on a Friday: headless runs use it so the same seed gives the same bytes.
    public static let fridayAfternoon = Timestamp(seconds: 1_795_795_200)
}
