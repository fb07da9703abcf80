/// Everything that can happen to a deploy. The state is a fold of these.
public enum EventPayload: Sendable, Equatable {
    case deployStarted(service: String, from: VersionRef, to: VersionRef, plan: RolloutPlan, stages: [String], by: String)
    case stageStarted(stage: String)
    case stageOutput(stage: String, line: String)
    case stageFinished(stage: String, status: StageStatus, seconds: Double)
    case stepStarted(index: Int, weight: Int, pause: StepPause)
    /// The weights the engine is about to set, and why (durable before the router is touched).
    case trafficSet(weights: [VersionWeight], cause: TrafficCause?)
    case trafficObserved(weights: [VersionWeight])
    /// The router reports weights the log does not explain (a hand edit, a restarted router, a server DOWN).
    case trafficDrifted(wanted: [VersionWeight], observed: [VersionWeight])
    /// The router was read back and still holds the observed split (batched, not synced at once).
    case trafficConfirmed
    case metricsSample(MetricsSample)
    case analysisVerdict(step: Int, verdict: Verdict, summary: String, figures: [Figure])
    /// With several candidates: one candidate's verdict against the baseline (written as
    /// `analysis.verdict` with a `candidate` field).
    case candidateVerdict(version: String, step: Int, verdict: Verdict, summary: String, figures: [Figure])
    /// One candidate of several is out of rotation, confirmed by the router; the others go on.
    case candidateReverted(version: String, by: String, reason: String?)
    case commandAccepted(action: Action, by: String, reason: String?)
    case commandRejected(action: Action, by: String, why: String)
    case deployPaused(by: String, reason: String)
    case deployResumed(by: String)
    case deployFinished(outcome: Outcome, by: String, reason: String?)
    case chatMessage(from: String, text: String)
    case presenceJoined(who: String, role: String)
    case presenceLeft(who: String)
    case routerUnreachable(provider: String, error: String)
    case routerRecovered(provider: String)
    /// The engine came back after being down: pause timers did not run meanwhile.
    case engineRestarted(downSeconds: Double)
    /// The metrics source failed (empty result, NaN, error, timeout): no sample, not zero errors.
    case metricsUnavailable(provider: String, error: String)
    case metricsRecovered(provider: String)
    /// Opening the log set damaged lines aside.
    case logRecovered(setAside: Int, keptIn: String)
    /// A notification (webhook) could not be delivered after its retries.
    case notifyFailed(error: String)
    /// A `[hooks]` command ran: "ok", "exit status N", "timed out …"; its last line.
    case hookFinished(hook: String, status: String, seconds: Double, output: String)
    /// The commits the deploy ships (`old..new` from git): at most 20 listed, `total` in all.
    case changeListed(range: String, total: Int, commits: [ChangeCommit], big: Bool, error: String?)
    /// Lines of an outside CI's report (`friday ingest`) that were not recorded: how many, and
    /// the first few ("line 7: not JSON: …"); `friday ingest` prints every one.
    case ingestRefused(count: Int, examples: [String])
    /// After a revert, `git revert` commits for the deployed range on a branch of their own
    /// (`[git] revert = true`), or the conflict (its files) or the error that stopped it.
    case gitReverted(range: String, branch: String?, commits: [ChangeCommit], conflicts: [String], pushed: String?, error: String?)

    /// The `type` field of the event line.
    public var type: String {
        switch self {
        case .deployStarted: return "deploy.started"
        case .stageStarted: return "stage.started"
        case .stageOutput: return "stage.output"
        case .stageFinished: return "stage.finished"
        case .stepStarted: return "step.started"
        case .trafficSet: return "traffic.set"
        case .trafficObserved: return "traffic.observed"
        case .trafficDrifted: return "traffic.drifted"
        case .trafficConfirmed: return "traffic.confirmed"
        case .metricsSample: return "metrics.sample"
        case .analysisVerdict, .candidateVerdict: return "analysis.verdict"
        case .candidateReverted: return "candidate.reverted"
        case .commandAccepted: return "command.accepted"
        case .commandRejected: return "command.rejected"
        case .deployPaused: return "deploy.paused"
        case .deployResumed: return "deploy.resumed"
        case .deployFinished: return "deploy.finished"
        case .chatMessage: return "chat.message"
        case .presenceJoined: return "presence.joined"
        case .presenceLeft: return "presence.left"
        case .routerUnreachable: return "router.unreachable"
        case .routerRecovered: return "router.recovered"
        case .engineRestarted: return "engine.restarted"
        case .logRecovered: return "log.recovered"
        case .notifyFailed: return "notify.failed"
        case .changeListed: return "change.listed"
        case .ingestRefused: return "ingest.refused"
        case .gitReverted: return "git.reverted"
        case .hookFinished: return "hook.finished"
        case .metricsUnavailable: return "metrics.unavailable"
        case .metricsRecovered: return "metrics.recovered"
        }
    }
}

/// One line of the event log: `{"v":1,"seq":N,"ts":"…Z","deploy":"ID","type":"…","data":{…}}`.
public struct DeployEvent: Sendable, Equatable {
    public static let formatVersion = 1
    public var seq: Int
    public var ts: Timestamp
    public var deploy: String
    public var payload: EventPayload

    public init(seq: Int, ts: Timestamp, deploy: String, payload: EventPayload) {
        self.seq = seq; self.ts = ts; self.deploy = deploy; self.payload = payload
    }

    /// The event as one JSON line (no newline), keys in a fixed order.
    public var jsonLine: String {
        JSONValue.object([
            ("v", .number(Double(DeployEvent.formatVersion))),
            ("seq", .number(Double(seq))),
            ("ts", .string(ts.rfc3339)),
            ("deploy", .string(deploy)),
            ("type", .string(payload.type)),
            ("data", payload.data),
        ]).serialized
    }

    /// Reads one event line. Errors say which field is wrong and what was expected.
    public init(jsonLine line: String) throws(EventDecodingError) {
        let value: JSONValue
        do { value = try JSONValue.parse(line) } catch { throw EventDecodingError("not JSON: \(error.description)") }
        try self.init(json: value)
    }

    public init(json value: JSONValue) throws(EventDecodingError) {
        guard case .object = value else { throw EventDecodingError("an event line must be a JSON object") }
        guard let v = value["v"]?.intValue else { throw EventDecodingError("missing \"v\" (format version, a number)") }
        guard v == DeployEvent.formatVersion else { throw EventDecodingError("format version \(v) is not supported (this friday reads v\(DeployEvent.formatVersion))") }
        guard let seq = value["seq"]?.intValue, seq >= 0 else { throw EventDecodingError("missing or bad \"seq\" (a whole number ≥ 0)") }
        guard let tsText = value["ts"]?.stringValue else { throw EventDecodingError("missing \"ts\" (an RFC 3339 UTC time such as 2026-11-27T16:00:00.000Z)") }
        guard let ts = Timestamp(rfc3339: tsText) else { throw EventDecodingError("bad \"ts\" \"\(tsText)\": expected an RFC 3339 UTC time such as 2026-11-27T16:00:00.000Z") }
        guard let deploy = value["deploy"]?.stringValue else { throw EventDecodingError("missing \"deploy\" (the deploy id, a string)") }
        guard let type = value["type"]?.stringValue else { throw EventDecodingError("missing \"type\"") }
        let data = value["data"] ?? .object([])
        self.init(seq: seq, ts: ts, deploy: deploy, payload: try EventPayload(type: type, data: data))
    }
}

/// Why an event line could not be read.
public struct EventDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

// MARK: - payload <-> JSON

extension EventPayload {
    var data: JSONValue {
        switch self {
        case let .deployStarted(service, from, to, plan, stages, by):
            var pairs: [(String, JSONValue)] = [
                ("service", .string(service)), ("from", from.json), ("to", to.json),
                ("plan", .array(plan.steps.map(\.json))), ("stages", .array(stages.map(JSONValue.string))),
                ("by", .string(by)),
            ]
            if let more = plan.moreCandidates, !more.isEmpty { pairs.append(("more_candidates", .array(more.map(\.json)))) }
            if plan.isBenchmark { pairs.append(("benchmark", .bool(true))) }
            return .object(pairs)
        case let .stageStarted(stage): return .object([("stage", .string(stage))])
        case let .stageOutput(stage, line): return .object([("stage", .string(stage)), ("line", .string(line))])
        case let .stageFinished(stage, status, seconds):
            return .object([("stage", .string(stage)), ("status", .string(status.rawValue)), ("seconds", .number(round3(seconds)))])
        case let .stepStarted(index, weight, pause):
            return .object([("index", .number(Double(index))), ("weight", .number(Double(weight))), ("pause", pause.json)])
        case let .trafficSet(weights, cause):
            var pairs: [(String, JSONValue)] = [("weights", weightsJSON(weights))]
            if let cause { pairs.append(("cause", cause.json)) }
            return .object(pairs)
        case let .trafficDrifted(wanted, observed): return .object([("wanted", weightsJSON(wanted)), ("observed", weightsJSON(observed))])
        case .trafficConfirmed: return .object([])
        case let .trafficObserved(weights): return .object([("weights", weightsJSON(weights))])
        case let .metricsSample(m):
            return .object([
                ("version", .string(m.version)), ("requests", .number(Double(m.requests))), ("errors", .number(Double(m.errors))),
                ("p50", .number(round3(m.p50))), ("p99", .number(round3(m.p99))), ("window", .number(round3(m.window))),
            ] + (m.latencyIsMean ? [("latency", .string("mean"))] : []) + (m.slow.map { [("slow", .number(Double($0)))] } ?? []))
        case let .analysisVerdict(step, verdict, summary, figures):
            return .object([
                ("step", .number(Double(step))), ("verdict", .string(verdict.rawValue)), ("summary", .string(summary)),
                ("figures", figuresJSON(figures)),
            ])
        case let .candidateVerdict(version, step, verdict, summary, figures):
            return .object([
                ("candidate", .string(version)),
                ("step", .number(Double(step))), ("verdict", .string(verdict.rawValue)), ("summary", .string(summary)),
                ("figures", figuresJSON(figures)),
            ])
        case let .candidateReverted(version, by, reason):
            var pairs: [(String, JSONValue)] = [("candidate", .string(version)), ("by", .string(by))]
            if let reason { pairs.append(("reason", .string(reason))) }
            return .object(pairs)
        case let .commandAccepted(action, by, reason):
            var pairs: [(String, JSONValue)] = [("action", .string(action.rawValue)), ("by", .string(by))]
            if let reason { pairs.append(("reason", .string(reason))) }
            return .object(pairs)
        case let .commandRejected(action, by, why):
            return .object([("action", .string(action.rawValue)), ("by", .string(by)), ("why", .string(why))])
        case let .deployPaused(by, reason): return .object([("by", .string(by)), ("reason", .string(reason))])
        case let .deployResumed(by): return .object([("by", .string(by))])
        case let .deployFinished(outcome, by, reason):
            var pairs: [(String, JSONValue)] = [("outcome", .string(outcome.rawValue)), ("by", .string(by))]
            if let reason { pairs.append(("reason", .string(reason))) }
            return .object(pairs)
        case let .chatMessage(from, text): return .object([("from", .string(from)), ("text", .string(text))])
        case let .presenceJoined(who, role): return .object([("who", .string(who)), ("role", .string(role))])
        case let .presenceLeft(who): return .object([("who", .string(who))])
        case let .routerUnreachable(provider, error): return .object([("provider", .string(provider)), ("error", .string(error))])
        case let .routerRecovered(provider): return .object([("provider", .string(provider))])
        case let .engineRestarted(down): return .object([("down_seconds", .number(round3(down)))])
        case let .logRecovered(n, file): return .object([("set_aside", .number(Double(n))), ("kept_in", .string(file))])
        case let .notifyFailed(error): return .object([("error", .string(error))])
        case let .hookFinished(hook, status, seconds, output):
            return .object([("hook", .string(hook)), ("status", .string(status)), ("seconds", .number(round3(seconds))), ("output", .string(output))])
        case let .changeListed(range, total, commits, big, error):
            var pairs: [(String, JSONValue)] = [("range", .string(range)), ("total", .number(Double(total))), ("big", .bool(big)),
                                                ("commits", .array(commits.map(\.json)))]
            if let error { pairs.append(("error", .string(error))) }
            return .object(pairs)
        case let .ingestRefused(count, examples):
            return .object([("count", .number(Double(count))), ("examples", .array(examples.map { .string($0) }))])
        case let .gitReverted(range, branch, commits, conflicts, pushed, error):
            var pairs: [(String, JSONValue)] = [("range", .string(range))]
            if let branch { pairs.append(("branch", .string(branch))) }
            pairs.append(("commits", .array(commits.map(\.json))))
            pairs.append(("conflicts", .array(conflicts.map { .string($0) })))
            if let pushed { pairs.append(("pushed", .string(pushed))) }
            if let error { pairs.append(("error", .string(error))) }
            return .object(pairs)
        case let .metricsUnavailable(provider, error): return .object([("provider", .string(provider)), ("error", .string(error))])
        case let .metricsRecovered(provider): return .object([("provider", .string(provider))])
        }
    }

    public init(type: String, data: JSONValue) throws(EventDecodingError) {
        let d = FieldReader(type: type, data: data)
        switch type {
        case "deploy.started":
            let planItems = try d.array("plan")
            var steps: [RolloutStep] = []
            for (i, item) in planItems.enumerated() { steps.append(try RolloutStep(json: item, at: "\(type) plan[\(i)]")) }
            let from = try VersionRef(json: d.value("from"), at: "\(type) from"), to = try VersionRef(json: d.value("to"), at: "\(type) to")
            var more: [VersionRef] = []
            if let items = data["more_candidates"] {
                guard let list = items.arrayValue, list.count < RolloutPlan.maxCandidates else {
                    throw EventDecodingError("\(type): \"more_candidates\" must be an array of at most \(RolloutPlan.maxCandidates - 1) versions")
                }
                for (i, item) in list.enumerated() { more.append(try VersionRef(json: item, at: "\(type) more_candidates[\(i)]")) }
            }
            let names = [from.name, to.name] + more.map(\.name)
            if Set(names).count != names.count { throw EventDecodingError("\(type): a version is named twice among from, to and more_candidates") }
            // Every step of a deploy with several candidates names every version, in order, summing to 100.
            for (i, st) in steps.enumerated() {
                if let w = st.weights {
                    guard !more.isEmpty, w.map(\.version) == names else {
                        throw EventDecodingError("\(type) plan[\(i)]: \"weights\" must name \(names.joined(separator: ", ")) in that order")
                    }
                    guard w.reduce(0, { $0 + $1.percent }) == 100, st.weight == 100 - w[0].percent else {
                        throw EventDecodingError("\(type) plan[\(i)]: \"weights\" must sum to 100 and \"weight\" be the candidates' share")
                    }
                } else if !more.isEmpty {
                    throw EventDecodingError("\(type) plan[\(i)]: a deploy with several candidates needs \"weights\" in every step")
                }
            }
            let benchmark = data["benchmark"]?.boolValue ?? false
            // The plan rules (`RolloutPlan.problem`) are the deploy file's: a log an older friday
            // wrote before them must still open, or its deploy could not be resumed or reverted.
            let plan = RolloutPlan(steps: steps, moreCandidates: more.isEmpty ? nil : more, benchmark: benchmark ? true : nil)
            self = .deployStarted(service: try d.string("service"), from: from,
                                  to: to, plan: plan,
                                  stages: try d.array("stages").map { v throws(EventDecodingError) in
                                      guard let s = v.stringValue else { throw EventDecodingError("\(type): \"stages\" must hold strings") }
                                      return s
                                  }, by: try d.string("by"))
        case "stage.started": self = .stageStarted(stage: try d.string("stage"))
        case "stage.output": self = .stageOutput(stage: try d.string("stage"), line: try d.string("line"))
        case "stage.finished":
            let statusText = try d.string("status")
            guard let status = StageStatus(rawValue: statusText), status != .pending, status != .running else {
                throw EventDecodingError("\(type): \"status\" is \"\(statusText)\"; expected succeeded, failed or cancelled")
            }
            self = .stageFinished(stage: try d.string("stage"), status: status, seconds: round3(try d.double("seconds", in: InputRange.longSeconds)))
        case "step.started":
            self = .stepStarted(index: try d.int("index", in: 0...1000), weight: try d.percent("weight"), pause: try StepPause(json: d.value("pause"), at: "\(type) pause"))
        case "traffic.set":
            self = .trafficSet(weights: try d.weights("weights"), cause: try data["cause"].map { v throws(EventDecodingError) in try TrafficCause(json: v, at: type) })
        case "traffic.drifted": self = .trafficDrifted(wanted: try d.weights("wanted"), observed: try d.weights("observed"))
        case "traffic.confirmed": self = .trafficConfirmed
        case "traffic.observed": self = .trafficObserved(weights: try d.weights("weights"))
        case "metrics.sample":
            let requests = try d.int("requests", in: InputRange.countPerWindow)
            let errors = try d.int("errors", in: InputRange.countPerWindow)
            guard errors <= requests else { throw EventDecodingError("\(type): \"errors\" (\(errors)) is more than \"requests\" (\(requests))") }
            let window = try data["window"].map { _ throws(EventDecodingError) in round3(try d.double("window", in: InputRange.window)) } ?? 1
            let slow = try data["slow"].map { _ throws(EventDecodingError) in try d.int("slow", in: 0...requests) }
            self = .metricsSample(MetricsSample(version: try d.string("version"), requests: requests, errors: errors,
                                                p50: round3(try d.double("p50", in: InputRange.latencyMs)), p99: round3(try d.double("p99", in: InputRange.latencyMs)), window: window,
                                                latencyIsMean: d.optionalString("latency") == "mean", slow: slow))
        case "candidate.reverted":
            self = .candidateReverted(version: try d.string("candidate"), by: try d.string("by"), reason: d.optionalString("reason"))
        case "analysis.verdict":
            let vText = try d.string("verdict")
            guard let verdict = Verdict(rawValue: vText) else { throw EventDecodingError("\(type): \"verdict\" is \"\(vText)\"; expected pass, fail or inconclusive") }
            var figures: [Figure] = []
            for item in (data["figures"]?.arrayValue ?? []) {
                guard let name = item["name"]?.stringValue, let value = item["value"]?.doubleValue, value.isFinite, abs(value) <= 1e15,
                      item["limit"].map({ $0.doubleValue.map { $0.isFinite && abs($0) <= 1e15 } ?? false }) ?? true else {
                    throw EventDecodingError("\(type): each figure needs \"name\" (string) and \"value\" (a number within ±1e15), and \"limit\" if present too")
                }
                figures.append(Figure(name: name, value: round6(value), limit: item["limit"]?.doubleValue.map(round6)))
            }
            if data["candidate"] != nil {
                self = .candidateVerdict(version: try d.string("candidate"), step: try d.int("step", in: 0...1000), verdict: verdict,
                                         summary: d.optionalString("summary") ?? "", figures: figures)
            } else {
                self = .analysisVerdict(step: try d.int("step", in: 0...1000), verdict: verdict, summary: d.optionalString("summary") ?? "", figures: figures)
            }
        case "command.accepted":
            self = .commandAccepted(action: try d.action("action"), by: try d.string("by"), reason: d.optionalString("reason"))
        case "command.rejected":
            self = .commandRejected(action: try d.action("action"), by: try d.string("by"), why: try d.string("why"))
        case "deploy.paused": self = .deployPaused(by: try d.string("by"), reason: d.optionalString("reason") ?? "")
        case "deploy.resumed": self = .deployResumed(by: try d.string("by"))
        case "deploy.finished":
            let oText = try d.string("outcome")
            guard let outcome = Outcome(rawValue: oText) else { throw EventDecodingError("\(type): \"outcome\" is \"\(oText)\"; expected promoted, reverted or failed") }
            self = .deployFinished(outcome: outcome, by: d.optionalString("by") ?? "engine", reason: d.optionalString("reason"))
        case "chat.message": self = .chatMessage(from: try d.string("from"), text: try d.string("text"))
        case "presence.joined": self = .presenceJoined(who: try d.string("who"), role: d.optionalString("role") ?? "viewer")
        case "presence.left": self = .presenceLeft(who: try d.string("who"))
        case "router.unreachable": self = .routerUnreachable(provider: try d.string("provider"), error: try d.string("error"))
        case "router.recovered": self = .routerRecovered(provider: try d.string("provider"))
        case "engine.restarted": self = .engineRestarted(downSeconds: round3(try d.double("down_seconds", in: InputRange.longSeconds)))
        case "log.recovered": self = .logRecovered(setAside: try d.int("set_aside", in: 0...1_000_000), keptIn: try d.string("kept_in"))
        case "notify.failed": self = .notifyFailed(error: try d.string("error"))
        case "hook.finished":
            self = .hookFinished(hook: try d.string("hook"), status: try d.string("status"), seconds: round3(try d.double("seconds", in: InputRange.longSeconds)), output: d.optionalString("output") ?? "")
        case "change.listed":
            self = .changeListed(range: try d.string("range"), total: try d.int("total", in: 0...10_000_000), commits: try ChangeCommit.list(d),
                                 big: d.data["big"]?.boolValue ?? false, error: d.optionalString("error"))
        case "ingest.refused":
            let examples = try d.array("examples").prefix(10).map { v throws(EventDecodingError) -> String in
                guard let s = v.stringValue else { throw EventDecodingError("\(type): \"examples\" must be strings") }
                return String(s.prefix(2000))
            }
            self = .ingestRefused(count: try d.int("count", in: 1...1_000_000_000), examples: examples)
        case "git.reverted":
            let conflicts = try d.array("conflicts").prefix(200).map { v throws(EventDecodingError) -> String in
                guard let s = v.stringValue else { throw EventDecodingError("\(type): \"conflicts\" must be file names (strings)") }
                return s
            }
            self = .gitReverted(range: try d.string("range"), branch: d.optionalString("branch"), commits: try ChangeCommit.list(d),
                                conflicts: conflicts, pushed: d.optionalString("pushed"), error: d.optionalString("error"))
        case "metrics.unavailable": self = .metricsUnavailable(provider: try d.string("provider"), error: try d.string("error"))
        case "metrics.recovered": self = .metricsRecovered(provider: try d.string("provider"))
        default:
            throw EventDecodingError("unknown event type \"\(type)\"")
        }
    }
}

/// Numbers are written to a fixed precision and read back to the same one, so an event read
/// from a line is written back as the same line.
private func round3(_ x: Double) -> Double { SafeNumber.finite((SafeNumber.finite(x) * 1000).rounded() / 1000) }

private func figuresJSON(_ figures: [Figure]) -> JSONValue {
    .array(figures.map { f in
        var pairs: [(String, JSONValue)] = [("name", .string(f.name)), ("value", .number(round6(f.value)))]
        if let l = f.limit { pairs.append(("limit", .number(round6(l)))) }
        return .object(pairs)
    })
}

private func weightsJSON(_ w: [VersionWeight]) -> JSONValue {
    .object(w.map { ($0.version, .number(Double($0.percent))) })
}

extension TrafficCause {
    var json: JSONValue {
        switch self {
        case let .step(i): return .object([("kind", .string("step")), ("index", .number(Double(i)))])
        case let .revert(by, reason):
            var pairs: [(String, JSONValue)] = [("kind", .string("revert")), ("by", .string(by))]
            if let reason { pairs.append(("reason", .string(reason))) }
            return .object(pairs)
        case .restore: return .object([("kind", .string("restore"))])
        case let .revertCandidate(version, by, reason):
            var pairs: [(String, JSONValue)] = [("kind", .string("revert-candidate")), ("candidate", .string(version)), ("by", .string(by))]
            if let reason { pairs.append(("reason", .string(reason))) }
            return .object(pairs)
        }
    }
    init(json: JSONValue, at place: String) throws(EventDecodingError) {
        switch json["kind"]?.stringValue {
        case "step":
            guard let i = json["index"]?.intValue, (0...1000).contains(i) else { throw EventDecodingError("\(place): cause \"step\" needs \"index\" 0–1000") }
            self = .step(index: i)
        case "revert":
            guard let by = json["by"]?.stringValue else { throw EventDecodingError("\(place): cause \"revert\" needs \"by\"") }
            self = .revert(by: by, reason: json["reason"]?.stringValue)
        case "restore": self = .restore
        case "revert-candidate":
            guard let v = json["candidate"]?.stringValue, let by = json["by"]?.stringValue else {
                throw EventDecodingError("\(place): cause \"revert-candidate\" needs \"candidate\" and \"by\"")
            }
            self = .revertCandidate(version: v, by: by, reason: json["reason"]?.stringValue)
        default: throw EventDecodingError("\(place): \"cause\" must be {\"kind\": \"step\" | \"revert\" | \"revert-candidate\" | \"restore\"}")
        }
    }
}

extension VersionRef {
    var json: JSONValue { .object([("version", .string(name)), ("commit", .string(commit))]) }
    init(json: JSONValue, at place: String) throws(EventDecodingError) {
        guard let n = json["version"]?.stringValue else { throw EventDecodingError("\(place): missing \"version\" (a string)") }
        self.init(name: n, commit: json["commit"]?.stringValue ?? "")
    }
}

extension StepPause {
    var json: JSONValue {
        switch self {
        case let .seconds(s): return .number(s)
        case .untilPromoted: return .string("until-promoted")
        }
    }
    init(json: JSONValue, at place: String) throws(EventDecodingError) {
        if let s = json.doubleValue, InputRange.seconds.contains(s) { self = .seconds(s); return }
        if json.stringValue == "until-promoted" { self = .untilPromoted; return }
        throw EventDecodingError("\(place): expected seconds (0 to 2592000, 30 days) or \"until-promoted\"")
    }
}

extension RolloutStep {
    var json: JSONValue {
        var pairs: [(String, JSONValue)] = [("weight", .number(Double(weight))), ("pause", pause.json)]
        if let weights { pairs.append(("weights", weightsJSON(weights))) }
        return .object(pairs)
    }
    init(json: JSONValue, at place: String) throws(EventDecodingError) {
        guard let w = json["weight"]?.intValue, (0...100).contains(w) else { throw EventDecodingError("\(place): \"weight\" must be a whole number 0–100") }
        var weights: [VersionWeight]?
        if json["weights"] != nil {
            weights = try FieldReader(type: place, data: json).weights("weights")
            guard (2...(1 + RolloutPlan.maxCandidates)).contains(weights!.count) else {
                throw EventDecodingError("\(place): \"weights\" must name 2 to \(1 + RolloutPlan.maxCandidates) versions")
            }
        }
        self.init(weight: w, pause: try StepPause(json: json["pause"] ?? .number(0), at: place + " pause"), weights: weights)
    }
}

/// Reads typed fields out of an event's data, with messages that name the field.
struct FieldReader {
    let type: String
    let data: JSONValue

    func value(_ key: String) throws(EventDecodingError) -> JSONValue {
        guard let v = data[key], !v.isNull else { throw EventDecodingError("\(type): missing \"\(key)\"") }
        return v
    }
    func string(_ key: String) throws(EventDecodingError) -> String {
        guard let s = try value(key).stringValue else { throw EventDecodingError("\(type): \"\(key)\" must be a string") }
        return s
    }
    func optionalString(_ key: String) -> String? { data[key]?.stringValue }
    func optionalDouble(_ key: String) -> Double? { data[key]?.doubleValue }
    func double(_ key: String) throws(EventDecodingError) -> Double {
        guard let n = try value(key).doubleValue, n.isFinite else { throw EventDecodingError("\(type): \"\(key)\" must be a number") }
        return n
    }
    func int(_ key: String) throws(EventDecodingError) -> Int {
        guard let n = try value(key).intValue else { throw EventDecodingError("\(type): \"\(key)\" must be a whole number") }
        return n
    }
    func int(_ key: String, in range: ClosedRange<Int>) throws(EventDecodingError) -> Int {
        let n = try int(key)
        guard range.contains(n) else { throw EventDecodingError("\(type): \"\(key)\" is \(n): expected \(range.lowerBound)–\(range.upperBound)") }
        return n
    }
    func double(_ key: String, in range: ClosedRange<Double>) throws(EventDecodingError) -> Double {
        let n = try double(key)
        guard range.contains(n) else { throw EventDecodingError("\(type): \"\(key)\" is \(n): expected \(range.lowerBound)–\(range.upperBound)") }
        return n
    }
    func percent(_ key: String) throws(EventDecodingError) -> Int {
        let n = try int(key)
        guard (0...100).contains(n) else { throw EventDecodingError("\(type): \"\(key)\" must be 0–100, got \(n)") }
        return n
    }
    func array(_ key: String) throws(EventDecodingError) -> [JSONValue] {
        guard let a = try value(key).arrayValue else { throw EventDecodingError("\(type): \"\(key)\" must be an array") }
        return a
    }
    func action(_ key: String) throws(EventDecodingError) -> Action {
        let s = try string(key)
        guard let a = Action(rawValue: s) else {
            throw EventDecodingError("\(type): \"\(key)\" is \"\(s)\"; expected one of \(Action.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return a
    }
    func weights(_ key: String) throws(EventDecodingError) -> [VersionWeight] {
        guard case let .object(pairs) = try value(key) else { throw EventDecodingError("\(type): \"\(key)\" must be an object of version: percent") }
        var out: [VersionWeight] = []
        for (k, v) in pairs {
            guard let p = v.intValue, (0...100).contains(p) else { throw EventDecodingError("\(type): weight of \"\(k)\" must be a whole number 0–100") }
            out.append(VersionWeight(version: k, percent: p))
        }
        return out
    }
}

/// One commit of the change a deploy ships.
public struct ChangeCommit: Sendable, Equatable, Codable {
    public var hash: String
    public var author: String
    public var subject: String
    /// The commit's page (`deploy.web`), if the deploy file names one.
    public var url: String?
    public init(hash: String, author: String, subject: String, url: String? = nil) {
        self.hash = hash; self.author = author; self.subject = subject; self.url = url
    }

    var json: JSONValue {
        var pairs: [(String, JSONValue)] = [("hash", .string(hash)), ("author", .string(author)), ("subject", .string(subject))]
        if let url { pairs.append(("url", .string(url))) }
        return .object(pairs)
    }

    static func list(_ d: FieldReader) throws(EventDecodingError) -> [ChangeCommit] {
        var commits: [ChangeCommit] = []
        for item in try d.array("commits").prefix(100) {
            guard let h = item["hash"]?.stringValue, let a = item["author"]?.stringValue, let sub = item["subject"]?.stringValue else {
                throw EventDecodingError("\(d.type): each commit needs \"hash\", \"author\" and \"subject\" (strings)")
            }
            commits.append(ChangeCommit(hash: h, author: a, subject: sub, url: item["url"]?.stringValue))
        }
        return commits
    }
}
