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

    public var plan: RolloutPlan {
        switch self {
        case .steady:
            return RolloutPlan(steps: [RolloutStep(weight: 10, pause: .untilPromoted), RolloutStep(weight: 100, pause: .seconds(0))])
        default:
            return .standard
        }
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
    }

    /// 16:00 UTC on a Friday: headless runs use it so the same seed gives the same bytes.
    public static let fridayAfternoon = Timestamp(seconds: 1_795_795_200)
}
