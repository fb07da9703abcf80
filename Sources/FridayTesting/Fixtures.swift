import FridayCore

/// Builds event streams for tests: a deploy with a plan, then whatever the test needs.
public struct EventFixture {
    public private(set) var events: [DeployEvent] = []
    public var deploy = "test-deploy"
    public var t = Timestamp(seconds: 1_795_795_200)

    public init() {}

    /// Appends an event one second after the previous one.
    public mutating func add(_ p: EventPayload, after seconds: Double = 1) {
        if !events.isEmpty { t = t + seconds }
        events.append(DeployEvent(seq: events.count, ts: t, deploy: deploy, payload: p))
    }

    /// The state the events fold to.
    public var state: DeployState {
        var s = DeployState()
        for e in events { Reducer.reduce(&s, e) }
        return s
    }

    /// A started deploy with two finished stages and the standard plan at step `step` (nil: in the pipeline).
    public static func rolling(step: Int?, plan: RolloutPlan = .standard) -> EventFixture {
        var f = EventFixture()
        f.add(.deployStarted(service: "checkout", from: VersionRef(name: "v1", commit: "a"), to: VersionRef(name: "v2", commit: "b"),
                             plan: plan, stages: ["build", "release"], by: "lee"))
        f.add(.stageStarted(stage: "build"))
        f.add(.stageFinished(stage: "build", status: .succeeded, seconds: 1))
        guard let step else { return f }
        f.add(.stageStarted(stage: "release"))
        f.add(.stageFinished(stage: "release", status: .succeeded, seconds: 1))
        for i in 0...step {
            let w = plan.steps[i].weight
            f.add(.trafficObserved(weights: [VersionWeight(version: "v1", percent: 100 - w), VersionWeight(version: "v2", percent: w)]), after: 0)
            f.add(.stepStarted(index: i, weight: w, pause: plan.steps[i].pause), after: 0)
        }
        return f
    }
}
