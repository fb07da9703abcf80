/// The deploy as the screen sees it: a fold of its events, nothing else.
public struct DeployState: Sendable, Equatable, Codable {
    public enum Phase: Sendable, Equatable, Codable {
        case idle
        case pipeline
        case rolling
        case finished(Outcome)
    }

    /// One pipeline stage and what it printed last.
    public struct Stage: Sendable, Equatable, Codable {
        public var name: String
        public var status: StageStatus = .pending
        public var startedAt: Timestamp?
        public var seconds: Double?
        public var output: [String] = []
        public init(name: String) { self.name = name }
    }

    /// Who paused the rollout, why, and how much of the step's pause was left.
    public struct Pause: Sendable, Equatable, Codable {
        public var by: String
        public var reason: String
        public var at: Timestamp
        public var remaining: Double?
        public init(by: String, reason: String, at: Timestamp, remaining: Double?) { self.by = by; self.reason = reason; self.at = at; self.remaining = remaining }
    }

    /// The latest judgement and the figures behind it.
    public struct Judgement: Sendable, Equatable, Codable {
        public var step: Int
        public var verdict: Verdict
        public var summary: String
        public var figures: [Figure]
        public var at: Timestamp
        public init(step: Int, verdict: Verdict, summary: String, figures: [Figure], at: Timestamp) {
            self.step = step; self.verdict = verdict; self.summary = summary; self.figures = figures; self.at = at
        }
    }

    public static let outputLinesKept = 200
    public static let logEntriesKept = 1000

    /// Team-log entries dropped from the front so far (the log keeps its newest lines):
    /// what lets a search's match follow its entry. Optional so older snapshots decode.
    public var logDropped: Int?
    public var deployID: String = ""
    public var service: String = ""
    public var from = VersionRef(name: "", commit: "")
    public var to = VersionRef(name: "", commit: "")
    public var plan = RolloutPlan(steps: [])
    public var startedAt: Timestamp?
    public var startedBy: String = ""
    public var phase: Phase = .idle
    public var finishedAt: Timestamp?
    public var stages: [Stage] = []
    public var stepIndex: Int?
    public var stepStartedAt: Timestamp?
    /// When the current step's pause ends; nil while paused, when the step waits for a
    /// promote, or when no step is running.
    public var pauseDeadline: Timestamp?
    public var paused: Pause?
    public var wanted: [VersionWeight] = []
    public var observed: [VersionWeight] = []
    /// When the router last confirmed `observed` (read back), for the screen's "read 3s ago".
    public var observedAt: Timestamp?
    /// The move the engine has committed to and not finished: set by an accepted command or
    /// a `traffic.set` with a cause, cleared by the `step.started` or `deploy.finished` that
    /// completes it. A restart finishes it; a revert here is never replaced by a step.
    public var pending: TrafficCause?
    /// The commits shipped (`old..new`), once listed from git.
    public var change: Change?
    public struct Change: Sendable, Equatable, Codable {
        public var range: String
        public var total: Int
        public var big: Bool
    }
    /// Lines of an outside CI's report refused so far (nil: none).
    public var ingestRefused: Int?
    /// What `git revert` made after the last revert (nil until it ran; `[git] revert = true`).
    public var gitRevert: GitRevert?
    public struct GitRevert: Sendable, Equatable, Codable {
        public var branch: String?
        public var commits: Int
        public var ok: Bool
        public init(branch: String?, commits: Int, ok: Bool) { self.branch = branch; self.commits = commits; self.ok = ok }
    }
    /// Who asked to cancel the running stage (until it has finished).
    public var cancelRequestedBy: String?
    public var cancelRequested: Bool { cancelRequestedBy != nil }
    /// Weights the router reported that the log does not explain, until put back.
    public var drift: Drift?
    /// The metrics source gives a mean, not a p99 (HAProxy's `rtime`): the screen says "avg".
    public var latencyIsMean = false
    public var metrics: [String: MetricWindow] = [:]
    /// Per version, since the current step began (the judge's counts).
    public var stepTotals: [String: StepTotals] = [:]
    /// The current step's metrics ticks, canary against old, for the judge (bounded: past
    /// 21,600 blocks the oldest half is merged pairwise).
    public var stepBlocks: [JudgeBlock] = []
    public var judgement: Judgement?
    public var log: [LogEntry] = []
    public var watchers: [Watcher] = []
    public var routerProblem: String?
    /// Why the metrics source gives no samples now, if it does not.
    public var metricsProblem: String?
    public var lastSeq: Int = -1
    public var lastEventAt: Timestamp?
    /// With several candidates: the candidates taken out of rotation alone (decided once the
    /// `traffic.set` that does it is on disk), in order. Only a retry brings them back.
    public var candidatesOut: [String]?
    /// With several candidates: the step that was pending (a promote accepted, a pause run
    /// out) when a candidate began to be taken out; pending again once it is out.
    public var stepAfterCandidate: Int?
    /// With several candidates: each candidate's latest verdict in the current step.
    public var candidateJudgements: [String: Judgement]?
    /// With several candidates: each candidate's metrics ticks against the baseline's.
    public var candidateBlocks: [String: [JudgeBlock]]?
    /// With several candidates: each version's per-second p50 and p99 over the current step
    /// (sums, for the benchmark's means and confidence intervals).
    public var latencyStats: [String: LatencyStats]?

    public init() {}

    // MARK: derived

    public var isFinished: Bool { if case .finished = phase { return true }; return false }
    public var outcome: Outcome? { if case let .finished(o) = phase { return o }; return nil }
    public var currentStep: RolloutStep? { stepIndex.flatMap { $0 < plan.steps.count ? plan.steps[$0] : nil } }

    /// The new version's observed share (what the router confirmed), 0 before any step;
    /// with several candidates, their share together.
    public var canaryPercent: Int {
        let names = Set(candidates.map(\.name))
        return observed.filter { names.contains($0.version) }.reduce(0) { $0 + $1.percent }
    }

    /// Whether the router holds what the log wants (the same weights, whatever their order).
    public var trafficSettled: Bool { Set(wanted) == Set(observed) }

    /// Every candidate: `to`, then the deploy file's others.
    public var candidates: [VersionRef] { [to] + (plan.moreCandidates ?? []) }
    public var isMultiway: Bool { plan.isMultiway }
    /// Candidates still in rotation (not taken out alone).
    public var liveCandidates: [VersionRef] {
        let out = Set(candidatesOut ?? [])
        return candidates.filter { !out.contains($0.name) }
    }
    /// The new version's name; with several candidates, those still in rotation (all of
    /// them for a retry, which brings them back), for titles and sentences.
    public func candidateNames(all: Bool = false) -> String {
        guard isMultiway else { return to.name }
        let names = (all ? candidates : liveCandidates).map(\.name)
        return names.isEmpty ? candidates.map(\.name).joined(separator: ", ") : names.joined(separator: ", ")
    }
    /// Whether `version` is one of the candidates.
    public func isCandidate(_ version: String) -> Bool { candidates.contains { $0.name == version } }

    /// Seconds left in the current pause at `now`, nil for "until promoted" or no pause.
    public func pauseRemaining(at now: Timestamp) -> Double? {
        if let p = paused { return p.remaining }
        guard let d = pauseDeadline else { return nil }
        return max(0, d - now)
    }

    public var failedStage: Stage? { stages.first(where: { $0.status == .failed || $0.status == .cancelled }) }
    public var runningStage: Stage? { stages.first(where: { $0.status == .running }) }
    /// Every stage succeeded; a deploy with no stages (`pipeline: none`) has nothing to wait for.
    public var pipelineSucceeded: Bool { stages.allSatisfy { $0.status == .succeeded } }
}

extension DeployState {
    /// The router's split differs from the log's: what friday set and what it read back.
    public struct Drift: Sendable, Equatable, Codable {
        public var wanted: [VersionWeight]
        public var observed: [VersionWeight]
        public var at: Timestamp
    }

    /// How long the current step has run past the end of its pause (waiting for the
    /// judge's evidence), nil while its pause runs, when paused or for "until promoted".
    public func extendedFor(at t: Timestamp) -> Double? {
        guard case .rolling = phase, paused == nil, let d = pauseDeadline, d <= t, let step = currentStep, case .seconds = step.pause else { return nil }
        return t - d
    }

    /// Whether a revert has been decided and not yet confirmed by the router.
    public var isReverting: Bool { if case .revert = pending { return true }; return false }
}

/// One version's latency over a step, for the benchmark: per-second p50 and p99 gathered
/// into batches of `batchSeconds` seconds; the batch means are the samples.
///
/// Sources smooth over several seconds (HAProxy's `rtime` is a mean of the last 1,024
/// requests, a PromQL quantile a rate window), so neighbouring seconds, and even
/// neighbouring batches, are not independent: their plain spread would understate the error
/// of the mean several-fold. The standard error is Newey and West's, from the batch means'
/// autocovariances up to `maxLag` batches (Bartlett weights). Kept as running sums, so a
/// step of any length costs the same to fold and to judge.
public struct LatencyStats: Sendable, Equatable, Codable {
    /// Seconds with requests, and their requests.
    public var seconds = 0
    public var requests = 0
    /// The batch means of one figure (p50 or p99), as sums.
    public struct Series: Sendable, Equatable, Codable {
        public var n = 0
        public var sum = 0.0, squares = 0.0
        /// Σ x[i]·x[i−l] for l = 1…maxLag.
        public var lagged: [Double] = Array(repeating: 0, count: LatencyStats.maxLag)
        /// The first and the last `maxLag` batch means.
        public var head: [Double] = []
        public var tail: [Double] = []
        public init() {}

        public mutating func add(_ x: Double) {
            for l in 1...LatencyStats.maxLag where tail.count >= l { lagged[l - 1] += x * tail[tail.count - l] }
            n += 1; sum += x; squares += x * x
            if head.count < LatencyStats.maxLag { head.append(x) }
            tail.append(x)
            if tail.count > LatencyStats.maxLag { tail.removeFirst() }
        }

        /// The mean and its Newey–West standard error with `lags` lags.
        public func mean(lags: Int) -> (mean: Double, se: Double)? {
            guard n >= 2 else { return nil }
            let nd = Double(n), m = sum / nd
            var longRun = max(0, squares - nd * m * m) / (nd - 1)
            let lags = min(lags, LatencyStats.maxLag, n - 1)
            if lags > 0 {
                for l in 1...lags {
                    // Σ_{i≥l} (x[i] − m)(x[i−l] − m), from the sums.
                    let late = sum - head.prefix(l).reduce(0, +), early = sum - tail.suffix(l).reduce(0, +)
                    let c = (lagged[l - 1] - m * late - m * early + Double(n - l) * m * m) / nd
                    longRun += 2 * (1 - Double(l) / Double(lags + 1)) * c
                }
            }
            return (m, (max(0, longRun) / nd).squareRoot())
        }
    }
    public var p50 = Series()
    public var p99 = Series()
    /// The batch being filled.
    public var openSeconds = 0
    public var openP50 = 0.0, openP99 = 0.0
    /// Some second's p50 differed from its p99: the source gives two figures (HAProxy's
    /// mean, or one PromQL latency, gives the same number for both).
    public var twoFigures = false
    /// Seconds per batch.
    public static let batchSeconds = 30
    /// The most lags of batch means the standard error allows for (three minutes).
    public static let maxLag = 6
    public init() {}

    enum CodingKeys: String, CodingKey { case seconds, requests, p50, p99, openSeconds, openP50, openP99, twoFigures }

    /// Tolerant of a snapshot from another version of friday (a client attached to an engine
    /// of another build, say): what it cannot read starts empty rather than failing the whole
    /// snapshot; the figures fill again as samples come.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        guard let p50 = try? c.decode(Series.self, forKey: .p50), let p99 = try? c.decode(Series.self, forKey: .p99),
              p50.lagged.count == LatencyStats.maxLag, p99.lagged.count == LatencyStats.maxLag else { return }
        self.p50 = p50; self.p99 = p99
        seconds = (try? c.decode(Int.self, forKey: .seconds)) ?? 0
        requests = (try? c.decode(Int.self, forKey: .requests)) ?? 0
        openSeconds = (try? c.decode(Int.self, forKey: .openSeconds)) ?? 0
        openP50 = (try? c.decode(Double.self, forKey: .openP50)) ?? 0
        openP99 = (try? c.decode(Double.self, forKey: .openP99)) ?? 0
        twoFigures = (try? c.decode(Bool.self, forKey: .twoFigures)) ?? false
    }

    public var batches: Int { p50.n }

    public mutating func add(_ s: MetricsSample) {
        guard s.requests > 0 else { return }
        seconds += 1; requests += s.requests
        if s.p50 != s.p99 { twoFigures = true }
        openSeconds += 1; openP50 += s.p50; openP99 += s.p99
        if openSeconds == LatencyStats.batchSeconds {
            p50.add(openP50 / Double(openSeconds))
            p99.add(openP99 / Double(openSeconds))
            openSeconds = 0; openP50 = 0; openP99 = 0
        }
    }

    /// The mean of the batch means and its standard error (at least 0.1% of the mean, so a
    /// source that repeats one value never gives an interval of width 0), over `batches`.
    /// Lags: a quarter of the batches, at most `maxLag`.
    public func mean(p99 high: Bool) -> (mean: Double, se: Double, batches: Int)? {
        let series = high ? p99 : p50
        guard let (m, se) = series.mean(lags: series.n / 4) else { return nil }
        return (m, max(se, abs(m) * 0.001), series.n)
    }
}

/// Someone watching the deploy and their role.
public struct Watcher: Sendable, Equatable, Codable {
    public var who: String
    public var role: String
    public init(who: String, role: String) { self.who = who; self.role = role }
}

/// A line of the team log: chat, a command, or something the system did.
public struct LogEntry: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Equatable, Codable { case chat, command, refusal, system, alert }
    public var at: Timestamp
    public var kind: Kind
    public var who: String
    public var text: String
    public init(at: Timestamp, kind: Kind, who: String, text: String) { self.at = at; self.kind = kind; self.who = who; self.text = text }
}

extension Array {
    /// Appends, keeping at most about `limit` newest elements (trims in batches, amortised O(1)).
    mutating func appendBounded(_ element: Element, limit: Int) {
        append(element)
        if count > limit + limit / 2 { removeFirst(count - limit) }
    }
}

/// Who or what holds a rollout still, and what ends the hold: one answer for the header,
/// the board and `friday status`, so they call the same moment by the same name.
public struct Hold: Sendable, Equatable {
    /// HELD (the plan or the judge waits for a person) or PAUSED (a person paused it).
    public var word: String
    /// Who or what holds it, in words: "until promoted", "by the judge", "by maya".
    public var by: String
    /// What ends it: promote, or resume.
    public var ends: Action

    public init(word: String, by: String, ends: Action) { self.word = word; self.by = by; self.ends = ends }
}

extension DeployState {
    /// The hold on a rolling deploy that waits for a person, if one does.
    public var hold: Hold? {
        guard case .rolling = phase, !isReverting else { return nil }
        if let p = paused {
            // The judge holds for a person's promote; the engine holds on the router (drift, a
            // move not confirmed): resume puts the logged weights back, a promote would
            // override what someone did to the router.
            if p.by == "judge" { return Hold(word: "HELD", by: "by the judge", ends: .promote) }
            if p.by == "engine" { return Hold(word: "HELD", by: "by the engine", ends: .resume) }
            return Hold(word: "PAUSED", by: "by \(p.by)", ends: .resume)
        }
        if pending == nil, case .untilPromoted? = currentStep?.pause { return Hold(word: "HELD", by: "until promoted", ends: .promote) }
        return nil
    }
}

extension DeployState {
    /// Whether the judge has passed the current step (every live candidate's, with several).
    /// A benchmark is measured, not judged: always true there.
    public var judgePassedStep: Bool {
        guard case .rolling = phase, let i = stepIndex else { return false }
        if plan.isBenchmark { return true }
        if isMultiway {
            let live = liveCandidates.map(\.name)
            return !live.isEmpty && live.allSatisfy { candidateJudgements?[$0].map { $0.step == i && $0.verdict == .pass } ?? false }
        }
        return judgement.map { $0.step == i && $0.verdict == .pass } ?? false
    }
}
