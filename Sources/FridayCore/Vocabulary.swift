/// A version being deployed: its name (`v2.3.0`) and its commit.
public struct VersionRef: Sendable, Hashable, Codable {
    public var name: String
    public var commit: String
    public init(name: String, commit: String) { self.name = name; self.commit = commit }
}

/// How long a rollout step holds before the next one.
public enum StepPause: Sendable, Hashable, Codable {
    case seconds(Double)
    case untilPromoted

    public var label: String {
        switch self {
        case let .seconds(s): return formatDuration(s)
        case .untilPromoted: return "until promoted"
        }
    }
}

/// One rollout step: the new version's share of traffic, then a pause.
public struct RolloutStep: Sendable, Hashable, Codable {
    /// Percent of traffic on the new version, 0...100; with several candidates, their
    /// share together (100 − the baseline's).
    public var weight: Int
    public var pause: StepPause
    /// With several candidates: every version's weight, baseline first, then the
    /// candidates in the deploy file's order (summing to 100). Nil for a two-version deploy.
    public var weights: [VersionWeight]?
    public init(weight: Int, pause: StepPause, weights: [VersionWeight]? = nil) { self.weight = weight; self.pause = pause; self.weights = weights }
}

/// The canary plan: rising weights ending at 100.
public struct RolloutPlan: Sendable, Hashable, Codable {
    public var steps: [RolloutStep]
    /// Candidates after the first (`to`), for a deploy of up to four candidates against one
    /// baseline. Nil (or empty) for a two-version deploy.
    public var moreCandidates: [VersionRef]?
    /// Benchmark mode: steps wait for a promote and the judge reports which candidate is
    /// faster (p50, p99, with confidence intervals) instead of moving the rollout on. A
    /// candidate whose errors fail is still reverted.
    public var benchmark: Bool?
    public init(steps: [RolloutStep], moreCandidates: [VersionRef]? = nil, benchmark: Bool? = nil) {
        self.steps = steps; self.moreCandidates = moreCandidates; self.benchmark = benchmark
    }
    /// More than one candidate.
    public var isMultiway: Bool { !(moreCandidates ?? []).isEmpty }
    public var isBenchmark: Bool { benchmark ?? false }
    /// How many candidate-against-baseline comparisons a judged step makes (the false-revert
    /// budget is shared among them).
    public var comparisons: Int { 1 + (moreCandidates?.count ?? 0) }
    /// The most candidates a deploy may have.
    public static let maxCandidates = 4

    /// Why step `i` of a plan cannot be carried out safely, nil when
    /// it can. Every candidate takes traffic in every step (so each is judged against the
    /// baseline in every step before it takes more, and a candidate taken out always leaves
    /// one in rotation to take its share); the baseline takes traffic in every step but the
    /// last (the judge compares with it) and none in the last. Benchmark steps wait for a
    /// promote. Deploy files are held to these rules; a `deploy.started` line read back is not
    /// (a log written before them must still open), and its plan is carried out safely anyway:
    /// a freed share never goes to a version the step gives nothing.
    public func problem(step i: Int) -> String? {
        guard i >= 0, i < steps.count else { return nil }
        if isBenchmark, steps[i].pause != .untilPromoted { return "in benchmark mode every step waits for a promote" }
        guard isMultiway, let w = steps[i].weights, let baseline = w.first else { return nil }
        if let idle = w.dropFirst().first(where: { $0.percent == 0 }) {
            return "\(idle.version) gets 0%: every candidate takes traffic in every step, so the judge sees each one before it takes more (to end with fewer, take one out with friday revert --candidate)"
        }
        let last = i == steps.count - 1
        if !last, baseline.percent == 0 {
            return "\(baseline.version) gets 0% before the last step: the judge compares every candidate with the baseline, so it keeps a share until the last step"
        }
        if last, baseline.percent != 0 {
            return "the last step must give \(baseline.version) 0 (the candidates take all traffic)"
        }
        return nil
    }

    /// 1% → 5% → 25% (until promoted) → 50% → 100%, the demo's plan.
    public static let standard = RolloutPlan(steps: [
        RolloutStep(weight: 1, pause: .seconds(30)),
        RolloutStep(weight: 5, pause: .seconds(45)),
        RolloutStep(weight: 25, pause: .untilPromoted),
        RolloutStep(weight: 50, pause: .seconds(45)),
        RolloutStep(weight: 100, pause: .seconds(0)),
    ])
}

/// One version's share of traffic, in percent.
public struct VersionWeight: Sendable, Hashable, Codable {
    public var version: String
    public var percent: Int
    public init(version: String, percent: Int) { self.version = version; self.percent = percent }
}

/// How a pipeline stage ended.
public enum StageStatus: String, Sendable, Hashable, Codable {
    case pending, running, succeeded, failed, cancelled
}

/// The judge's verdict on a step.
public enum Verdict: String, Sendable, Hashable, Codable {
    case pass, fail, inconclusive
}

/// How a deploy ended.
public enum Outcome: String, Sendable, Hashable, Codable {
    case promoted, reverted, failed
}

/// One version's traffic over one window (normally one second).
public struct MetricsSample: Sendable, Hashable, Codable {
    public var version: String
    public var requests: Int
    public var errors: Int
    public var p50: Double
    public var p99: Double
    /// Window length in seconds.
    public var window: Double
    /// The source has no percentiles and `p99` is a mean (HAProxy's `rtime`): shown as "avg".
    public var latencyIsMean: Bool
    /// Requests slower than the latency threshold (the old version's p99, or a configured
    /// one), where the source has a latency distribution (Prometheus histograms, the
    /// simulator); nil where it has none. The judge tests these counts like errors.
    public var slow: Int?
    public init(version: String, requests: Int, errors: Int, p50: Double, p99: Double, window: Double, latencyIsMean: Bool = false, slow: Int? = nil) {
        self.version = version; self.requests = requests; self.errors = errors
        self.p50 = p50; self.p99 = p99; self.window = window; self.latencyIsMean = latencyIsMean; self.slow = slow
    }
}

/// A named figure behind a verdict: `canary error rate = 6.1%` against `threshold 2%`.
public struct Figure: Sendable, Hashable, Codable {
    public var name: String
    public var value: Double
    public var limit: Double?
    public init(name: String, value: Double, limit: Double? = nil) { self.name = name; self.value = value; self.limit = limit }
}

/// Why the engine sets weights: logged (and synced) with the weights before the router is
/// touched, so a restart finishes the last unfinished move instead of guessing.
public enum TrafficCause: Sendable, Hashable, Codable {
    /// Moving to rollout step `index` (a promote, a retry, a pause that ran out).
    case step(index: Int)
    /// Taking the new version out of rotation. Terminal: only an explicit retry undoes it.
    case revert(by: String, reason: String?)
    /// Taking one candidate of several out of rotation (its traffic goes to the others in
    /// proportion). Decided once this is on disk: no later step gives it traffic again,
    /// short of an explicit retry.
    case revertCandidate(version: String, by: String, reason: String?)
    /// Putting back weights the log already holds (after drift, a router fault or a restart).
    case restore
}
