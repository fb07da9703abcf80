/// Delivery figures over recorded deploys (the four DORA keys, as far as a deploy's own log
/// tells them): deploys per day, lead time from the build's start to 100%, the share of
/// deploys reverted, and the time from a revert's decision to the router confirming it.
///
/// Definitions (also in `friday stats --help` and docs/stats.md):
/// - a deploy is one log's deploy (its `deploy.started`); it counts on its start's UTC day;
/// - **lead time**: from its first `stage.started` (its `deploy.started` when it has no
///   pipeline) to the `deploy.finished` that promoted it, for promoted deploys;
/// - **change failure rate**: deploys reverted at least once (a retried and then promoted
///   deploy counts: the change failed in production once) over deploys that reached traffic
///   (a pipeline failure never reached users and is counted apart);
/// - **time to restore**: from the first sign of the revert in the log (an accepted `revert`
///   command or a `traffic.set` whose cause is a revert) to the `deploy.finished(reverted)`
///   recorded once the router confirmed the new version out of rotation.
public enum DeliveryStats {
    /// What one deploy's log says about it.
    public struct Deploy: Sendable, Equatable {
        public var id: String
        public var service: String
        public var startedAt: Timestamp
        public var buildStartedAt: Timestamp
        public var promotedAt: Timestamp?
        /// Each revert: when it was decided and when the router confirmed it (nil: never confirmed).
        public var reverts: [(decided: Timestamp, restored: Timestamp?)]
        public var pipelineFailed: Bool
        public var reachedTraffic: Bool
        /// Still running when the log ends.
        public var open: Bool

        public var leadTime: Double? { promotedAt.map { $0 - buildStartedAt } }
        public var reverted: Bool { !reverts.isEmpty }

        public static func == (a: Deploy, b: Deploy) -> Bool {
            a.id == b.id && a.service == b.service && a.startedAt == b.startedAt && a.buildStartedAt == b.buildStartedAt
                && a.promotedAt == b.promotedAt && a.pipelineFailed == b.pipelineFailed && a.reachedTraffic == b.reachedTraffic && a.open == b.open
                && a.reverts.map(\.decided) == b.reverts.map(\.decided) && a.reverts.map(\.restored) == b.reverts.map(\.restored)
        }
    }

    /// The deploy a log's events describe; nil when they never start one.
    public static func deploy(_ events: [DeployEvent]) -> Deploy? {
        var d: Deploy?
        var revertDecided: Timestamp?
        for e in events {
            switch e.payload {
            case let .deployStarted(service, _, _, _, _, _):
                guard d == nil else { continue }
                d = Deploy(id: e.deploy, service: service, startedAt: e.ts, buildStartedAt: e.ts, promotedAt: nil, reverts: [],
                           pipelineFailed: false, reachedTraffic: false, open: true)
            case .stageStarted:
                if var x = d, x.buildStartedAt == x.startedAt, !x.reachedTraffic, x.promotedAt == nil, !sawStage(events, before: e.seq) {
                    x.buildStartedAt = e.ts
                    d = x
                }
            case .stepStarted:
                d?.reachedTraffic = true
                d?.open = true
            case .commandAccepted(.revert, _, _):
                if d != nil, revertDecided == nil { revertDecided = e.ts }
            case let .trafficSet(_, cause):
                if d != nil, case .revert = cause, revertDecided == nil { revertDecided = e.ts }
            case let .deployFinished(outcome, _, _):
                guard d != nil else { continue }
                d?.open = false
                switch outcome {
                case .promoted: d?.promotedAt = e.ts
                case .reverted:
                    d?.reverts.append((decided: revertDecided ?? e.ts, restored: e.ts))
                    revertDecided = nil
                case .failed:
                    if !(d?.reachedTraffic ?? false) { d?.pipelineFailed = true }
                }
            case .commandAccepted(.retry, _, _):
                d?.open = true
            default: break
            }
        }
        // A revert decided and never confirmed before the log ends.
        if let t = revertDecided { d?.reverts.append((decided: t, restored: nil)) }
        return d
    }

    private static func sawStage(_ events: [DeployEvent], before seq: Int) -> Bool {
        events.contains { $0.seq < seq && { if case .stageStarted = $0.payload { return true }; return false }($0) }
    }

    /// Figures over a set of deploys.
    public struct Figures: Sendable, Equatable {
        public var deploys = 0
        public var reachedTraffic = 0
        public var promoted = 0
        public var reverted = 0
        public var pipelineFailed = 0
        public var open = 0
        public var days = 0
        /// Median lead time in seconds (nil: no promoted deploy).
        public var medianLeadTime: Double?
        /// Median time to restore in seconds (nil: no confirmed revert).
        public var medianTimeToRestore: Double?

        public var deploysPerDay: Double? { days > 0 ? Double(deploys) / Double(days) : nil }
        /// Reverted over those that reached traffic (nil: none did).
        public var changeFailureRate: Double? { reachedTraffic > 0 ? Double(reverted) / Double(reachedTraffic) : nil }
    }

    /// `days`: the calendar days the figures cover (deploys per day divides by it); by
    /// default from the first deploy's UTC day to the last's, both included.
    public static func figures(_ ds: [Deploy], days: Int? = nil) -> Figures {
        var f = Figures()
        f.deploys = ds.count
        f.reachedTraffic = ds.filter(\.reachedTraffic).count
        f.promoted = ds.filter { $0.promotedAt != nil }.count
        f.reverted = ds.filter(\.reverted).count
        f.pipelineFailed = ds.filter(\.pipelineFailed).count
        f.open = ds.filter(\.open).count
        if let days { f.days = days } else if let lo = ds.map(\.startedAt.utcDays).min(), let hi = ds.map(\.startedAt.utcDays).max() {
            f.days = Int(hi - lo) + 1
        }
        f.medianLeadTime = median(ds.compactMap(\.leadTime))
        f.medianTimeToRestore = median(ds.flatMap { d in d.reverts.compactMap { r in r.restored.map { $0 - r.decided } } })
        return f
    }

    /// The middle value; the mean of the two middle ones for an even count.
    public static func median(_ xs: [Double]) -> Double? {
        guard !xs.isEmpty else { return nil }
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// The whole report: overall, by service (sorted by name), by weekday (Monday first).
    public struct Report: Sendable, Equatable {
        public var overall: Figures
        public var byService: [(service: String, figures: Figures)]
        public var byWeekday: [(weekday: String, figures: Figures)]
        public var perDay: [(day: String, deploys: Int)]

        public static func == (a: Report, b: Report) -> Bool {
            a.overall == b.overall && a.byService.map(\.service) == b.byService.map(\.service) && a.byService.map(\.figures) == b.byService.map(\.figures)
                && a.byWeekday.map(\.weekday) == b.byWeekday.map(\.weekday) && a.byWeekday.map(\.figures) == b.byWeekday.map(\.figures)
                && a.perDay.map(\.day) == b.perDay.map(\.day) && a.perDay.map(\.deploys) == b.perDay.map(\.deploys)
        }
    }

    public static func report(_ ds: [Deploy]) -> Report {
        let overall = figures(ds)
        let services = Set(ds.map(\.service)).sorted()
        // A service's or a weekday's deploys per day are over the whole period, not its own span.
        let byService = services.map { s in (service: s, figures: figures(ds.filter { $0.service == s }, days: overall.days)) }
        let weeks = overall.days > 0 ? overall.days : 1
        let byWeekday = Timestamp.weekdayNames.enumerated().map { i, name -> (weekday: String, figures: Figures) in
            let mine = ds.filter { $0.startedAt.utcWeekday == i }
            // The number of such weekdays in the period.
            var n = 0
            if let lo = ds.map(\.startedAt.utcDays).min() {
                for k in 0..<Int64(weeks) where Int((((lo + k) + 3) % 7 + 7) % 7) == i { n += 1 }
            }
            return (weekday: name, figures: figures(mine, days: n))
        }
        var perDay: [String: Int] = [:]
        for d in ds { perDay[d.startedAt.utcDate, default: 0] += 1 }
        return Report(overall: overall, byService: byService, byWeekday: byWeekday,
                      perDay: perDay.keys.sorted().map { (day: $0, deploys: perDay[$0]!) })
    }
}
