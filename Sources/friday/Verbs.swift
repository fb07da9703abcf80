import ArgumentParser
import Foundation
import FridayCore
import FridayServe

/// Exit codes of the commands that talk to a running engine (docs/protocol.md).
enum VerbExit {
    static let accepted: Int32 = 0
    static let refused: Int32 = 1
    static let unreachable: Int32 = 3
    /// An engine answered and refused the connection itself: a wrong or missing token, or a
    /// hello it would not take. Not 3: the engine is there, the credentials are the problem.
    static let connectionRefused: Int32 = 4
}

/// Connects as a CLI client (not counted as watching), or exits 3 (nothing answers) or 4
/// (the engine refused the connection) saying why not.
func connectCLI(_ target: EngineTarget) async throws -> EngineClient {
    do {
        return try await EngineClient.connect(try target.address(), hello: Wire.Hello(name: clientName(target.name), role: .operator, kind: .cli, token: target.token))
    } catch let e as EngineClient.Failure {
        Plain.err("friday: \(TerminalText.neutralise(e.description))")
        if case .refused = e { throw ExitCode(VerbExit.connectionRefused) }
        throw ExitCode(VerbExit.unreachable)
    }
}

/// A refusal as a shell user reads it: the dashboard's keys become the commands that do the
/// same from a shell ("press R to retry it first" → "friday retry ID retries it first").
func shellWords(_ why: String, deploy: String) -> String {
    let id = TerminalText.neutralise(deploy)
    return why.replacingOccurrences(of: "press R to retry it first", with: "`friday retry \(id)` retries it first")
}

/// Sends one command and exits 0 (accepted), 1 (refused, the reason on stderr) or 3 (unreachable).
func runVerb(_ target: EngineTarget, _ action: Action, text: String?, candidate: String? = nil) async throws {
    let client = try await connectCLI(target)
    let reply = await client.command(action, text: text, candidate: candidate)
    await client.close()
    switch reply {
    case .accepted, .ingested:
        Plain.out("friday: \(action.rawValue) accepted by \(client.welcome.deploy)")
    case let .refused(why):
        Plain.err("friday: \(action.rawValue) refused: \(TerminalText.neutralise(shellWords(why, deploy: client.welcome.deploy)))")
        throw ExitCode(VerbExit.refused)
    case let .lost(why):
        Plain.err("friday: \(action.rawValue) not confirmed: \(TerminalText.neutralise(why)) (friday status shows whether it was applied)")
        throw ExitCode(VerbExit.unreachable)
    }
}

struct Promote: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Promote a running deploy to its next step (--full: straight to 100%).")
    @OptionGroup var target: EngineTarget
    @Flag(help: "Go straight to 100%.") var full = false
    func run() async throws { try await runVerb(target, full ? .promoteFull : .promote, text: nil) }
}

/// Text for the team log: at most `Wire.maxTextLength` characters (the engine refuses more).
func checkText(_ text: String?, _ option: String) throws {
    if let text, text.count > Wire.maxTextLength { throw ValidationError("\(option) is \(text.count) characters long: at most \(Wire.maxTextLength)") }
}

struct Pause: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Pause a running deploy (its pause timer stops; the traffic stays).")
    @OptionGroup var target: EngineTarget
    @Option(help: "Why, for the team log.") var reason: String?
    func validate() throws { try checkText(reason, "--reason") }
    func run() async throws { try await runVerb(target, .pause, text: reason) }
}

struct Resume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Resume a paused deploy.")
    @OptionGroup var target: EngineTarget
    func run() async throws { try await runVerb(target, .resume, text: nil) }
}

struct Revert: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Revert a running deploy: all traffic back to the old version (only retry undoes it).")
    @OptionGroup var target: EngineTarget
    @Option(help: "Why (required: it goes to the team log and the notifications).") var reason: String
    @Option(help: "With several candidates: take this one out alone (its traffic goes to the others in proportion).") var candidate: String?
    func validate() throws {
        if reason.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("--reason must say why") }
        try checkText(reason, "--reason")
        if let candidate { try checkText(candidate, "--candidate") }
    }
    func run() async throws { try await runVerb(target, .revert, text: reason, candidate: candidate) }
}

struct Retry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Retry a reverted or failed deploy from its first step.")
    @OptionGroup var target: EngineTarget
    func run() async throws { try await runVerb(target, .retry, text: nil) }
}

struct Say: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write a line in a running deploy's team log: friday say DEPLOY \"the line\".")
    @OptionGroup var target: EngineTarget
    @Argument(help: "The line (after the deploy; quote it, or give several words).") var words: [String] = []
    @Option(help: "The line, as an option instead.") var text: String?
    var line: String? { text ?? (words.isEmpty ? nil : words.joined(separator: " ")) }
    func validate() throws {
        if text != nil, !words.isEmpty { throw ValidationError("give the line once: as words after the deploy, or with --text") }
        guard let line, !line.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw ValidationError("say what? friday say DEPLOY \"the line\" (or --text \"the line\")")
        }
        try checkText(line, "the line")
    }
    func run() async throws { try await runVerb(target, .say, text: line) }
}

/// `friday status`: the deploy as its engine sees it now, for people or (--json) scripts.
struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a running deploy's state (--json for scripts).")
    @OptionGroup var target: EngineTarget
    @Flag(help: "One JSON object (control, C1 and bidi characters escaped).") var json = false

    func run() async throws {
        // No deploy named and no ./friday.toml: the deploys this machine serves, as the board lists them.
        if target.deploy == nil, target.log == nil, target.tcp == nil, !FileManager.default.fileExists(atPath: "friday.toml") {
            try await Board.listDeploys(folder: defaultLogFolder(), json: json)
            return
        }
        let client = try await connectCLI(target)
        let s = client.snapshot
        let now = client.welcome.now
        await client.close()
        if json { Plain.out(StatusReport.json(s, now: now).serialized) } else { Plain.out(StatusReport.text(s, now: now)) }
    }
}

/// `friday stop DEPLOY`: ends an engine, first doing what the person says with the traffic.
struct Stop: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Stop a deploy's engine: leave, pause or revert its traffic first.")
    @OptionGroup var target: EngineTarget
    @Option(help: "What to do with the traffic first: leave (as it is), pause, or revert.") var traffic: Wire.StopTraffic?
    @Option(help: "Why, for the team log.") var reason: String?

    func validate() throws { try checkText(reason, "--reason") }

    func run() async throws {
        var choice = traffic
        if choice == nil {
            guard isatty(0) == 1 else {
                // Its own words, not the whole program's usage.
                throw ExitWith(message: "friday stop: say what to do with the traffic: --traffic leave, pause or revert (e.g. friday stop \(TerminalText.neutralise(target.deploy ?? "DEPLOY")) --traffic pause)")
            }
            Plain.out("Stop the engine. The traffic: [l]eave as it is, [p]ause, [r]evert, or Enter to cancel? ", terminator: "")
            switch readLine()?.trimmingCharacters(in: .whitespaces).lowercased() {
            case "l", "leave": choice = .leave
            case "p", "pause": choice = .pause
            case "r", "revert": choice = .revert
            default: Plain.out("cancelled: nothing was sent"); return
            }
        }
        guard let choice else { return }
        if choice == .revert, (reason ?? "").isEmpty { throw ExitWith(message: "friday stop: a revert needs --reason (it goes to the team log)") }
        let client = try await connectCLI(target)
        let reply = await client.stop(traffic: choice, reason: reason)
        await client.close()
        switch reply {
        case .accepted, .ingested: Plain.out("friday: the engine of \(client.welcome.deploy) is stopping (traffic: \(choice.rawValue))")
        case let .refused(why):
            Plain.err("friday: stop refused: \(TerminalText.neutralise(why))")
            throw ExitCode(VerbExit.refused)
        case let .lost(why):
            // Only the engine's answer says the stop (and its traffic choice) was carried out.
            Plain.err("friday: stop not confirmed: \(TerminalText.neutralise(why))")
            throw ExitCode(VerbExit.unreachable)
        }
    }
}

/// The deploy's state for `friday status`.
enum StatusReport {
    static func weights(_ w: [VersionWeight]) -> String { w.map { "\($0.version) \($0.percent)%" }.joined(separator: " / ") }

    /// The state in a word. In text a hold is "held" or "paused" as on the dashboard; in JSON
    /// `state` keeps its documented values (rolling, paused) and `hold` says who holds it.
    static func phase(_ s: DeployState, json: Bool = false) -> String {
        switch s.phase {
        case .idle: return "not started"
        case .pipeline: return "pipeline"
        case .rolling:
            if json { return s.paused != nil ? "paused" : (s.isReverting ? "reverting" : "rolling") }
            return s.hold.map { $0.word.lowercased() } ?? (s.isReverting ? "reverting" : "rolling")
        case let .finished(o): return o.rawValue
        }
    }

    static func text(_ s: DeployState, now: Timestamp) -> String {
        let n = TerminalText.neutralise
        var lines = ["deploy \(n(s.deployID)): \(n(s.service)) \(n(s.from.name)) → \(n(s.candidateNames(all: true))) · \(phase(s))"]
        if let i = s.stepIndex { lines.append("step \(i + 1) of \(s.plan.steps.count)" + (s.currentStep.map { " (\($0.weight)%)" } ?? "")) }
        if !s.observed.isEmpty { lines.append("traffic (read back): \(n(weights(s.observed)))") }
        if !s.trafficSettled, !s.wanted.isEmpty { lines.append("traffic wanted: \(n(weights(s.wanted)))") }
        // The same hold, the same words as the dashboard's header and the board, in shell words.
        if let h = s.hold {
            let verb = "friday \(h.ends.rawValue) \(n(s.deployID))"
            lines.append("\(h.word) \(n(h.by))" + (s.paused.map { ": \(n($0.reason))" } ?? "") + "; `\(verb)` ends it")
        } else if let left = s.pauseRemaining(at: now) { lines.append("next step in \(formatDuration(left))") }
        if let j = s.judgement { lines.append("judge (step \(j.step + 1)): \(j.verdict.rawValue): \(n(j.summary))") }
        // Several candidates: each one's own verdict, and those taken out alone.
        for c in s.candidates where s.isMultiway {
            if (s.candidatesOut ?? []).contains(c.name) { lines.append("\(n(c.name)): out of rotation (only a retry brings it back)") }
            else if let j = s.candidateJudgements?[c.name] { lines.append("\(n(c.name)) (step \(j.step + 1)): \(j.verdict.rawValue): \(n(j.summary))") }
        }
        if let d = s.drift { lines.append("DRIFT: the router has \(n(weights(d.observed))), the log \(n(weights(d.wanted)))") }
        if let r = s.routerProblem { lines.append("router: \(n(r))") }
        if let m = s.metricsProblem { lines.append("metrics: \(n(m))") }
        if let n = s.ingestRefused { lines.append("CI report: \(n) line\(n == 1 ? "" : "s") refused") }
        if let g = s.gitRevert { lines.append("git revert: " + (g.ok ? "\(g.commits) commit\(g.commits == 1 ? "" : "s") on \(n(g.branch ?? "?"))" : "did not complete (team log)")) }
        lines.append("watching: " + (s.watchers.isEmpty ? "nobody" : s.watchers.map { "\(n($0.who)) (\(n($0.role)))" }.joined(separator: ", ")))
        return lines.joined(separator: "\n")
    }

    static func json(_ s: DeployState, now: Timestamp) -> JSONValue {
        func w(_ list: [VersionWeight]) -> JSONValue { .array(list.map { .object([("version", .string($0.version)), ("percent", .number(Double($0.percent)))]) }) }
        var pairs: [(String, JSONValue)] = [
            ("deploy", .string(s.deployID)), ("service", .string(s.service)),
            ("from", .string(s.from.name)), ("to", .string(s.to.name)), ("state", .string(phase(s, json: true))),
            ("hold", s.hold.map { .object([("word", .string($0.word)), ("by", .string($0.by)), ("ends", .string($0.ends.rawValue))]) } ?? .null),
            ("step", s.stepIndex.map { .number(Double($0 + 1)) } ?? .null), ("steps", .number(Double(s.plan.steps.count))),
            ("observed", w(s.observed)), ("wanted", w(s.wanted)),
            ("paused", s.paused.map { .object([("by", .string($0.by)), ("reason", .string($0.reason))]) } ?? .null),
            ("next_step_in", s.pauseRemaining(at: now).map { .number($0.rounded()) } ?? .null),
            ("verdict", s.judgement.map { .object([("step", .number(Double($0.step + 1))), ("verdict", .string($0.verdict.rawValue)), ("summary", .string($0.summary))]) } ?? .null),
            ("drift", .bool(s.drift != nil)),
            ("router_problem", s.routerProblem.map { .string($0) } ?? .null),
            ("metrics_problem", s.metricsProblem.map { .string($0) } ?? .null),
            ("watching", .array(s.watchers.map { .object([("who", .string($0.who)), ("role", .string($0.role))]) })),
            ("seq", .number(Double(s.lastSeq))),
        ]
        if let o = s.outcome { pairs.append(("outcome", .string(o.rawValue))) }
        if s.isMultiway {
            pairs.append(("candidates", .array(s.candidates.map { c in
                var item: [(String, JSONValue)] = [("version", .string(c.name)), ("out", .bool((s.candidatesOut ?? []).contains(c.name)))]
                if let j = s.candidateJudgements?[c.name] {
                    item.append(("verdict", .object([("step", .number(Double(j.step + 1))), ("verdict", .string(j.verdict.rawValue)), ("summary", .string(j.summary))])))
                }
                return .object(item)
            })))
        }
        if let n = s.ingestRefused { pairs.append(("ci_lines_refused", .number(Double(n)))) }
        if let g = s.gitRevert {
            pairs.append(("git_revert", .object([("branch", g.branch.map { .string($0) } ?? .null), ("commits", .number(Double(g.commits))), ("ok", .bool(g.ok))])))
        }
        return .object(pairs)
    }
}
