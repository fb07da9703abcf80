import Foundation
import FridayCore
import FridayEngine
import TOMLKit

/// A deploy file (`friday.toml`): the service, the versions, the pipeline, the rollout
/// steps, the analysis settings, the router, the metrics source, notifications and hooks.
public struct DeployConfig: Sendable, Equatable {
    /// Where the traffic split is set.
    public enum RouterKind: Sendable, Equatable {
        case simulator
        /// HAProxy runtime API endpoints (socket paths or host:port), the backend, and version → server.
        case haproxy(sockets: [String], backend: String, servers: [String: String])
        /// A feature flag's percentage in a JSON flag file.
        case flagFile(path: String, flag: String)

        public var label: String {
            switch self {
            case .simulator: return "simulator"
            case let .flagFile(path, flag): return "flag \(flag) in \(path) (users in the canary: bucket(id) < percent)"
            case let .haproxy(sockets, backend, servers):
                return "haproxy \(sockets.joined(separator: ", ")) backend \(backend) (" + servers.sorted { $0.key < $1.key }.map { "\($0.key) → \($0.value)" }.joined(separator: ", ") + ")"
            }
        }
    }
    /// Where requests, errors and latency come from.
    public enum MetricsKind: Sendable, Equatable {
        case simulator
        case haproxyStats
        /// PromQL templates (`{version}`, `{server}`) for requests/s, errors/s and latency (s).
        case prometheus(url: String, requests: String, errors: String, latency: String?, slow: String? = nil)
    }

    public var file: String
    public var id: String
    public var service: String
    public var by: String?
    public var from: VersionRef
    public var to: VersionRef
    public var stages: [String]
    public var plan: RolloutPlan
    public var judge: CanaryJudge
    public var router: RouterKind
    public var metrics: MetricsKind
    public var simulation: SimulationSettings
    /// Parts a real router's deploy runs on the simulator, by the file's explicit say-so
    /// (`simulate = ["metrics", "pipeline"]`); the header then says SIMULATED.
    public var simulatedParts: [String] = []
    public var serve = ServeSettings()
    /// A shared PostgreSQL history (`[store] url`): events copied there, deploy locks taken there.
    public var store: StoreAddress?
    public var notify = NotifySettings()
    /// The stages' commands; empty when the pipeline is simulated.
    public var stageSpecs: [StageSpec] = []
    /// The stages are reported by an outside CI (`friday ingest`), not run here.
    public var externalPipeline = false
    /// A git checkout holding both commits: the team log lists what the deploy ships.
    public var repo: String?
    /// More commits than this in one deploy is flagged as a big change.
    public var bigChange = 25
    public var hooks = HookSettings()
    /// The repository's web page (`deploy.web`): commit links in the team log and events.
    public var web: String?
    public var git = GitSettings()
    /// The service's traffic and error rate as the file expects them (`[analysis]
    /// expected_requests_per_second`, `expected_error_rate`): `friday check` forecasts each
    /// step's verdict from them.
    public var expectedRequestsPerSecond: Double?
    public var expectedErrorRate: Double?
    /// Each rollout step's line in the file (its pause, else its table), for warnings.
    public var stepLines: [Int?] = []

    /// One line per part of the plan, for `friday check`.
    public var planDescription: [String] {
        let steps = plan.steps.enumerated().map { i, s -> String in
            if let w = s.weights { return "\(w.map { "\($0.percent)" }.joined(separator: "/"))" + (i == plan.steps.count - 1 ? "" : " \(s.pause.label)") }
            return i == plan.steps.count - 1 && s.weight == 100 ? "100%" : "\(s.weight)% \(s.pause.label)"
        }
        let candidates = ([to] + (plan.moreCandidates ?? [])).map { "\($0.name) (\($0.commit))" }.joined(separator: ", ")
        let head: [String] = [
            "deploy \(id): \(service) \(from.name) (\(from.commit)) → \(candidates)" + (by.map { ", by \($0)" } ?? ""),
            "pipeline: " + (stages.isEmpty ? "none" : stages.joined(separator: " → ")) + (stages.isEmpty ? "" : externalPipeline ? " (reported by an outside CI: friday ingest)" : stageSpecs.isEmpty ? " (simulated)" : " (commands)"),
        ]
        var out = head
        if !simulatedParts.isEmpty { out.append("SIMULATED with a real router: " + simulatedParts.joined(separator: ", ")) }
        let rest: [String?] = [
            "rollout: " + steps.joined(separator: " → ") + (plan.isMultiway ? " (\(([from.name, to.name] + (plan.moreCandidates ?? []).map(\.name)).joined(separator: "/")))" : ""),
            plan.isBenchmark ? "mode: benchmark — every step waits for a promote; the judge reports which candidate is faster at p50 and p99, or at the one latency the metrics give (intervals 95% overall, valid however long it is watched) and takes a candidate out only on errors" : nil,
            "analysis: sequential test per tick + CUSUM, false reverts ≤ \(percentText(judge.alpha)) per deploy (\(percentText(judge.stepAlpha(plan))) a step\(plan.isMultiway ? " and candidate" : "")), β \(judge.beta), catches \(format1(judge.errorRatio))× errors (at least +\(percentText(judge.minErrorRateIncrease))); p99 ≤ \(format1(judge.latencyLimit))×; min \(judge.minRequests) canary requests; a step waits up to \(formatDuration(judge.maxExtension)) for evidence; on fail: \(judge.onFail.rawValue)",
            "router: \(router.label)",
            "metrics: " + metricsLabel,
        ]
        return out + rest.compactMap { $0 }
    }
}

extension DeployConfig {
    var metricsLabel: String {
        switch metrics {
        case .simulator: return "simulator (scenario \(simulation.scenario.rawValue), seed \(simulation.seed), \(Int(simulation.requestsPerSecond)) req/s)"
        case .haproxyStats: return "HAProxy show stat"
        case let .prometheus(url, requests, errors, latency, slow):
            return "Prometheus \(url): requests \(requests); errors \(errors)" + (latency.map { "; latency \($0)" } ?? "") + (slow.map { "; slow requests \($0)" } ?? "")
        }
    }
}

/// A deploy file that cannot be used: file, line, key, and what is expected.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var key: String?
    public var message: String
    /// The file's other errors, in file order (`friday check` lists them all).
    public var also: [ConfigError] = []
    public init(file: String, line: Int?, key: String?, message: String) { self.file = file; self.line = line; self.key = key; self.message = message }
    /// This error and the others, in file order.
    public var all: [ConfigError] { [ConfigError(file: file, line: line, key: key, message: message)] + also }
    /// One error: `file:line: key: message`, with control characters from the file made visible.
    public var single: String {
        var s = file
        if let line { s += ":\(line)" }
        s += ": "
        if let key { s += "\(key): " }
        return TerminalText.neutralise(s + message)
    }
    public var description: String {
        ([single] + also.map(\.single)).joined(separator: "\n")
    }
}

/// Reads deploy files. Unknown keys are errors with a "did you mean".
public enum DeployConfigParser {
    static let sections: [String: [String]] = [
        "deploy": ["id", "service", "by", "from", "to", "simulate", "repo", "web", "big_change"],
        "git": ["revert", "push", "remote", "base", "timeout"],
        "pipeline": ["stage", "external"],
        "rollout": ["step"],
        "analysis": ["mode", "false_revert_rate", "alpha", "beta", "error_ratio", "latency_limit", "min_requests", "on_fail", "min_error_rate_increase", "cusum_threshold", "max_extension", "latency_from_mean",
                     "expected_requests_per_second", "expected_error_rate"],
        "router": ["kind", "socket", "sockets", "backend", "servers", "path", "flag"],
        "metrics": ["kind", "url", "queries"],
        "simulator": ["scenario", "seed", "requests_per_second", "base_error_rate", "canary_error_rate", "canary_errors_from_step", "canary_errors_after"],
        "notify": ["webhook", "channel", "events", "bell", "timeout", "retries"],
        "serve": ["group", "tcp", "token_env"],
        "store": ["url"],
        "hooks": ["timeout"] + HookSettings.Event.allCases.map(\.rawValue),
    ]

    public static func parse(_ text: String, file: String) throws(ConfigError) -> DeployConfig {
        let lines = KeyLines(text)
        func fail(_ key: String?, _ message: String, line: Int? = nil) -> ConfigError {
            ConfigError(file: file, line: line ?? key.flatMap { lines.line(of: $0) }, key: key, message: message)
        }
        let root: TOMLTable
        if let p = TOMLGuard.problem(in: text) { throw ConfigError(file: file, line: p.line, key: nil, message: "not valid TOML: \(p.message)") }
        do { root = try TOMLTable(string: text) } catch let e as TOMLParseError {
            throw ConfigError(file: file, line: Int(e.source.begin.line), key: nil, message: "not valid TOML: \(e.description)")
        } catch { throw ConfigError(file: file, line: nil, key: nil, message: "not valid TOML: \(error)") }

        // Every error in the file is reported, in file order: each part is read on its own,
        // and a part that fails adds its error and lets the others be read.
        var errors: [ConfigError] = []
        func collect(_ body: () throws(ConfigError) -> Void) {
            do { try body() } catch { errors.append(error) }
        }

        for key in root.keys.sorted() where sections[key] == nil {
            let hint = didYouMeanText(key, Array(sections.keys))
            errors.append(fail(key, "unknown section\(hint); sections are \(sections.keys.sorted().joined(separator: ", "))"))
        }
        for (name, keys) in sections.sorted(by: { $0.key < $1.key }) {
            guard let t = root[name] else { continue }
            guard let table = t.table else {
                if name != "pipeline" && name != "rollout" { errors.append(fail(name, "expected a table ([\(name)])")) }
                continue
            }
            for key in table.keys.sorted() where !keys.contains(key) {
                errors.append(fail("\(name).\(key)", "unknown key\(didYouMeanText(key, keys)); [\(name)] takes \(keys.joined(separator: ", "))"))
            }
        }
        let r = Reader(fail: fail)

        // [deploy]
        var service = "", id = "", by: String?
        var from = VersionRef(name: "", commit: ""), to = VersionRef(name: "", commit: "")
        /// Candidates after the first: `to = [{ … }, { … }]` names up to four.
        var more: [VersionRef] = []
        var simulate: [String] = []
        var repo: String?
        var web: String?
        var bigChange = 25
        if let deploy = root["deploy"]?.table {
            collect { () throws(ConfigError) in service = try r.name(deploy, "deploy.service") }
            collect { () throws(ConfigError) in from = try version(deploy, "deploy.from", r) }
            collect { () throws(ConfigError) in
                guard let list = deploy["to"]?.array else { to = try version(deploy, "deploy.to", r); return }
                guard (1...RolloutPlan.maxCandidates).contains(list.count) else {
                    throw fail("deploy.to", "\(list.count) candidates: a deploy has 1 to \(RolloutPlan.maxCandidates), to = [{ version = \"…\", commit = \"…\" }, …]")
                }
                var refs: [VersionRef] = []
                for (i, item) in list.enumerated() {
                    guard let vt = item.table else { throw fail("deploy.to", "candidate \(i + 1) must be a table { version = \"…\", commit = \"…\" }") }
                    refs.append(try versionTable(vt, "deploy.to[\(i + 1)]", r))
                }
                to = refs[0]
                more = Array(refs.dropFirst())
                let names = [from.name] + refs.map(\.name)
                if let dup = names.first(where: { n in names.filter { $0 == n }.count > 1 }) {
                    throw fail("deploy.to", "\"\(dup)\" is named twice among from and to: every version must differ")
                }
            }
            collect { () throws(ConfigError) in
                guard let path = try r.optionalString(deploy, "deploy.repo") else { return }
                guard !path.isEmpty, !path.contains("\u{0}") else { throw fail("deploy.repo", "expected the path of a git checkout") }
                let dir: String = { let d = (file as NSString).deletingLastPathComponent; return d.isEmpty ? "." : d }()
                repo = path.hasPrefix("/") ? path : dir + "/" + path
            }
            collect { () throws(ConfigError) in
                guard let w = try r.optionalString(deploy, "deploy.web") else { return }
                guard GitSettings.isWebLink(w) else {
                    throw fail("deploy.web", "expected an http(s) address such as \"https://github.com/acme/checkout\" (commit pages are WEB/commit/HASH, or put {hash} where the hash goes), at most 300 characters, no spaces")
                }
                web = w
            }
            if deploy["big_change"] != nil { collect { () throws(ConfigError) in bigChange = try r.int(deploy, "deploy.big_change", in: 1...100_000, what: "a number of commits, 1 or more") } }
            if !from.name.isEmpty, from.name == to.name {
                errors.append(fail("deploy.to", "\"\(from.name)\" is also the version deployed from: from and to must differ"))
            }
            collect { () throws(ConfigError) in
                id = try r.optionalString(deploy, "deploy.id") ?? "\(service)-\(to.name)"
                guard !id.isEmpty, id.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }), id.allSatisfy({ $0.isASCII }), !id.hasPrefix(".") else {
                    throw fail("deploy.id", "\"\(id)\" must be ASCII letters, digits, '-', '_' or '.' (it names the log file)")
                }
            }
            collect { () throws(ConfigError) in by = try r.optionalName(deploy, "deploy.by") }
            collect { () throws(ConfigError) in
                guard let v = deploy["simulate"] else { return }
                guard let items = v.array, items.allSatisfy({ $0.string != nil }) else {
                    throw fail("deploy.simulate", "expected a list such as [\"metrics\", \"pipeline\"]")
                }
                for part in items.compactMap({ $0.string }) {
                    guard ["metrics", "pipeline"].contains(part) else {
                        throw fail("deploy.simulate", "\"\(part)\"\(didYouMeanText(part, ["metrics", "pipeline"])): expected \"metrics\" or \"pipeline\"")
                    }
                    if !simulate.contains(part) { simulate.append(part) }
                }
            }
        } else {
            errors.append(fail(nil, "missing [deploy] with service, from and to", line: 1))
        }

        // [[pipeline.stage]]
        var stages: [String] = []
        var specs: [StageSpec] = []
        var simulatedStages = 0
        var external = false
        if let v = root["pipeline"]?.table?["external"] {
            if let b = v.bool { external = b } else { errors.append(fail("pipeline.external", "expected true or false")) }
        }
        let stageKeys = ["name", "run", "script", "dir", "timeout", "env", "poll"]
        let fileDir: String = { let d = (file as NSString).deletingLastPathComponent; return d.isEmpty ? "." : d }()
        if let p = root["pipeline"]?.table, let arr = p["stage"] {
            if let items = arr.array {
                for (i, item) in items.enumerated() {
                    collect { () throws(ConfigError) in
                        let key = "pipeline.stage[\(i + 1)]"
                        guard let t = item.table else { throw fail(key, "expected a table with a name") }
                        for k in t.keys.sorted() where !stageKeys.contains(k) {
                            throw fail("\(key).\(k)", "unknown key\(didYouMeanText(k, stageKeys)); a stage takes \(stageKeys.joined(separator: ", "))")
                        }
                        let name = try r.name(t, "\(key).name")
                        if stages.contains(name) { throw fail("\(key).name", "\"\(name)\" names an earlier stage too: stage names must differ") }
                        stages.append(name)
                        var run: StageSpec.Run?
                        if let v = t["run"] {
                            guard let list = v.array, !list.isEmpty else { throw fail("\(key).run", "expected a list of arguments such as [\"make\", \"image\"] (no shell; use script = \"…\" for one)") }
                            var argv: [String] = []
                            for a in list {
                                guard let s = a.string, !s.contains("\u{0}"), s.utf8.count <= 8192 else { throw fail("\(key).run", "every argument must be a string (no NUL, at most 8 kB)") }
                                argv.append(s)
                            }
                            if argv[0].isEmpty { throw fail("\(key).run", "the first argument names the program: it must not be empty") }
                            run = .argv(argv)
                        }
                        if let v = t["script"] {
                            if run != nil { throw fail("\(key).script", "give run or script, not both") }
                            guard let text = v.string, !text.trimmingCharacters(in: " \t\n").isEmpty, !text.contains("\u{0}") else { throw fail("\(key).script", "expected a shell script as a string (run by /bin/sh -c)") }
                            run = .script(text)
                        }
                        guard let run else {
                            for k in ["dir", "timeout", "env", "poll"] where t[k] != nil {
                                throw fail("\(key).\(k)", "\(k) applies to a stage that runs something: add run = [...] or script = \"…\"")
                            }
                            simulatedStages += 1
                            return
                        }
                        var spec = StageSpec(name: name, run: run)
                        if let d = try r.optionalString(t, "\(key).dir") {
                            spec.dir = d.hasPrefix("/") ? d : fileDir + "/" + d
                        } else {
                            spec.dir = fileDir
                        }
                        if let v = t["timeout"] {
                            guard let text = v.string, let secs = parseDuration(text), secs > 0 else { throw fail("\(key).timeout", "expected a duration above 0 such as \"10m\" or \"1h\" (at most 720h)") }
                            spec.timeout = secs
                        }
                        if let v = t["poll"] {
                            guard let text = v.string, let secs = parseDuration(text), secs >= 1 else { throw fail("\(key).poll", "expected a duration of at least 1s such as \"10s\": the stage runs again that often until it exits 0") }
                            spec.poll = secs
                        }
                        if let v = t["env"] {
                            guard let env = v.table else { throw fail("\(key).env", "expected a table of strings such as { REGISTRY = \"registry.local\" }") }
                            for k in env.keys.sorted() {
                                guard let value = env[k]?.string, !k.isEmpty, !k.contains("="), !k.contains("\u{0}"), !value.contains("\u{0}") else {
                                    throw fail("\(key).env.\(k)", "expected NAME = \"value\" (a string, no NUL, no = in the name)")
                                }
                                if k.hasPrefix("FRIDAY_") { throw fail("\(key).env.\(k)", "FRIDAY_* variables are set by friday (the deploy id, versions and commits)") }
                                spec.env[k] = value
                            }
                        }
                        specs.append(spec)
                    }
                }
                if external, !specs.isEmpty {
                    errors.append(fail("pipeline.external", "an external pipeline is reported by an outside CI (friday ingest): its stages take no run or script"))
                }
                if !specs.isEmpty, simulatedStages > 0 {
                    errors.append(fail("pipeline.stage", "every stage runs a command (run or script), or none does (the simulator): \(simulatedStages) of \(items.count) have neither"))
                }
            } else {
                errors.append(fail("pipeline.stage", "expected [[pipeline.stage]] tables"))
            }
        }

        // [[rollout.step]]
        var steps: [RolloutStep] = []
        let benchmark = root["analysis"]?.table?["mode"]?.string == "benchmark"
        let versionNames = [from.name, to.name] + more.map(\.name)
        if let rollout = root["rollout"]?.table, let arr = rollout["step"] {
            if let items = arr.array, !items.isEmpty {
                var stepsOK = true
                for (i, item) in items.enumerated() {
                    collect { () throws(ConfigError) in
                        let key = "rollout.step[\(i + 1)]"
                        do throws(ConfigError) {
                            guard let t = item.table else { throw fail(key, "expected a table with weight and pause") }
                            for k in t.keys.sorted() where !["weight", "weights", "pause"].contains(k) {
                                throw fail("\(key).\(k)", "unknown key\(didYouMeanText(k, ["weight", "weights", "pause"])); a step takes weight (or weights) and pause")
                            }
                            var weight = 0
                            var weights: [VersionWeight]?
                            if t["weights"] != nil || !more.isEmpty {
                                // A weight per version: { "v2.3.0" = 34, "v2.4.0-a" = 33, "v2.4.0-b" = 33 }.
                                if t["weight"] != nil { throw fail("\(key).weight", "give weights = { version = percent, … } for every version, not one weight, when a deploy has several candidates") }
                                guard let wt = t["weights"]?.table else {
                                    throw fail("\(key)", "missing weights: a deploy with several candidates gives every version its percent, e.g. weights = { \(versionNames.map { "\"\($0)\" = \(100 / versionNames.count)" }.joined(separator: ", ")) }")
                                }
                                var byName: [String: Int] = [:]
                                for k in wt.keys.sorted() {
                                    guard versionNames.contains(k) else {
                                        throw fail("\(key).weights", "\"\(k)\" is not a version of this deploy\(didYouMeanText(k, versionNames)); versions are \(versionNames.joined(separator: ", "))")
                                    }
                                    guard let n = wt[k]?.int, (0...100).contains(n) else { throw fail("\(key).weights", "\"\(k)\" must be a whole percent 0–100") }
                                    byName[k] = n
                                }
                                let list = versionNames.map { VersionWeight(version: $0, percent: byName[$0] ?? 0) }
                                let sum = list.reduce(0) { $0 + $1.percent }
                                guard sum == 100 else { throw fail("\(key).weights", "the weights add up to \(sum): they must add up to 100") }
                                if more.isEmpty { weight = list[1].percent } else { weights = list; weight = 100 - list[0].percent }
                                if let prev = steps.last, weight < prev.weight || (prev.weights ?? []) == list {
                                    throw fail("\(key).weights", weight < prev.weight ? "\(from.name) goes from \(100 - prev.weight)% back up to \(100 - weight)%: the baseline's share must not rise" : "the same as the step before")
                                }
                                if weights == nil, let prev = steps.last, weight <= prev.weight {
                                    throw fail("\(key).weights", "\(to.name) at \(weight)% is not above the step before (\(prev.weight)%): weights must rise")
                                }
                            } else {
                                weight = try r.int(t, "\(key).weight", in: 0...100, what: "a whole percent 0–100")
                                if let prev = steps.last, weight <= prev.weight {
                                    throw fail("\(key).weight", "\(weight) is not above the step before (\(prev.weight)): weights must rise")
                                }
                            }
                            var pause = StepPause.seconds(0)
                            if let pv = t["pause"] {
                                guard let text = pv.string else { throw fail("\(key).pause", "expected a string such as \"30s\", \"5m\", \"1h30m\" or \"until-promoted\"") }
                                if text == "until-promoted" { pause = .untilPromoted } else {
                                    guard let secs = parseDuration(text) else {
                                        throw fail("\(key).pause", "\"\(text)\" is not a duration from 0s to 30 days (720h); use 30s, 5m, 1h30m or \"until-promoted\"")
                                    }
                                    pause = .seconds(secs)
                                }
                            } else if i < items.count - 1, !benchmark {
                                throw fail("\(key)", "missing pause: a duration such as \"30s\" or \"until-promoted\"")
                            }
                            if benchmark {
                                // A benchmark reports; a person moves it on.
                                if t["pause"] != nil, pause != .untilPromoted {
                                    throw fail("\(key).pause", "in benchmark mode every step waits for a promote: leave pause out or say \"until-promoted\"")
                                }
                                pause = .untilPromoted
                            }
                            steps.append(RolloutStep(weight: weight, pause: pause, weights: weights))
                        } catch {
                            stepsOK = false
                            throw error
                        }
                    }
                }
                if stepsOK, !more.isEmpty {
                    let plan = RolloutPlan(steps: steps, moreCandidates: more, benchmark: benchmark ? true : nil)
                    for i in steps.indices {
                        if let problem = plan.problem(step: i) { errors.append(fail("rollout.step[\(i + 1)].weights", problem)) }
                    }
                } else if stepsOK, steps.last?.weight != 100 {
                    if steps.last?.weights != nil {
                        errors.append(fail("rollout.step[\(steps.count)].weights", "the last step must give \(from.name) 0 (the candidates take all traffic)"))
                    } else {
                        errors.append(fail("rollout.step[\(steps.count)].weight", "the last step must be 100 (the new version takes all traffic)"))
                    }
                }
            } else {
                errors.append(fail("rollout.step", "expected one or more [[rollout.step]] tables"))
            }
        } else {
            errors.append(fail("rollout.step", "missing: add [[rollout.step]] tables with weight and pause", line: lines.count))
        }

        // [analysis]
        var judge = CanaryJudge()
        var expectedTraffic: Double?, expectedErrors: Double?
        if let a = root["analysis"]?.table {
            if a["expected_requests_per_second"] != nil {
                collect { () throws(ConfigError) in
                    expectedTraffic = try r.double(a, "analysis.expected_requests_per_second", in: 0.001...10_000_000, what: "the service's requests per second in all, from 0.001 to 10,000,000")
                }
            }
            if a["expected_error_rate"] != nil {
                collect { () throws(ConfigError) in
                    expectedErrors = try r.double(a, "analysis.expected_error_rate", in: 0...0.5, what: "a fraction between 0 and 0.5 (0.004 is 0.4% of requests failing)")
                }
            }
            if let m = a["mode"], !["canary", "benchmark"].contains(m.string ?? "") {
                errors.append(fail("analysis.mode", "expected \"canary\" (the default: the judge moves the rollout) or \"benchmark\" (it reports which candidate is faster; a person promotes)"))
            }
            if a["alpha"] != nil, a["false_revert_rate"] != nil { errors.append(fail("analysis.alpha", "give the false-revert budget once: false_revert_rate (alpha is its old name)")) }
            for key in ["false_revert_rate", "alpha"] where a[key] != nil {
                collect { () throws(ConfigError) in judge.alpha = try r.double(a, "analysis.\(key)", in: 0.0001...0.5, what: "a probability between 0.0001 and 0.5 (the chance of reverting a healthy deploy)") }
            }
            if a["min_error_rate_increase"] != nil { collect { () throws(ConfigError) in judge.minErrorRateIncrease = try r.double(a, "analysis.min_error_rate_increase", in: 0...0.5, what: "a fraction between 0 and 0.5 (0.001 is 0.1 percentage points)") } }
            if a["cusum_threshold"] != nil { collect { () throws(ConfigError) in judge.cusumThreshold = try r.double(a, "analysis.cusum_threshold", in: 2...100, what: "a number between 2 and 100") } }
            if let v = a["latency_from_mean"] {
                if let b = v.bool { judge.judgeMeanLatency = b } else { errors.append(fail("analysis.latency_from_mean", "expected true or false")) }
            }
            if a["max_extension"] != nil {
                collect { () throws(ConfigError) in
                    let text = try r.string(a, "analysis.max_extension")
                    guard let secs = parseDuration(text) else { throw fail("analysis.max_extension", "\"\(text)\" is not a duration from 0s to 30 days") }
                    judge.maxExtension = secs
                }
            }
            if a["beta"] != nil { collect { () throws(ConfigError) in judge.beta = try r.double(a, "analysis.beta", in: 0.0001...0.5, what: "a probability between 0.0001 and 0.5") } }
            if a["error_ratio"] != nil { collect { () throws(ConfigError) in judge.errorRatio = try r.double(a, "analysis.error_ratio", in: 1.01...100, what: "a ratio above 1, e.g. 2 for \"twice the errors\"") } }
            if a["latency_limit"] != nil { collect { () throws(ConfigError) in judge.latencyLimit = try r.double(a, "analysis.latency_limit", in: 1.0...100, what: "a ratio of at least 1, e.g. 1.5") } }
            if a["min_requests"] != nil { collect { () throws(ConfigError) in judge.minRequests = try r.int(a, "analysis.min_requests", in: 1...1_000_000_000, what: "a whole number of requests ≥ 1") } }
            if a["on_fail"] != nil {
                collect { () throws(ConfigError) in
                    let s = try r.string(a, "analysis.on_fail")
                    guard let f = CanaryJudge.FailAction(rawValue: s) else { throw fail("analysis.on_fail", "\"\(s)\": expected \"revert\" or \"pause\"") }
                    judge.onFail = f
                }
            }
        }

        // [router]
        var routerKind = DeployConfig.RouterKind.simulator
        if let t = root["router"]?.table {
            collect { () throws(ConfigError) in
                let kind = try r.string(t, "router.kind")
                switch kind {
                case "simulator": routerKind = .simulator
                case "haproxy":
                    var sockets: [String] = []
                    if t["socket"] != nil { sockets.append(try r.string(t, "router.socket")) }
                    if let arr = t["sockets"] {
                        guard let items = arr.array, items.allSatisfy({ $0.string != nil }) else {
                            throw fail("router.sockets", "expected a list of socket paths or host:port strings")
                        }
                        sockets += items.compactMap { $0.string }
                    }
                    guard !sockets.isEmpty else { throw fail("router", "haproxy needs socket = \"/run/haproxy/admin.sock\" (or sockets = [...] for a fleet)") }
                    let backend = try r.name(t, "router.backend")
                    guard let st = t["servers"]?.table, !st.keys.isEmpty else {
                        throw fail("router.servers", "expected a table of version = \"server\", e.g. servers = { \"\(from.name)\" = \"old\", \"\(to.name)\" = \"new\" }")
                    }
                    var servers: [String: String] = [:]
                    for k in st.keys.sorted() {
                        // Version names hold dots, so they are not read as dotted keys.
                        guard let v = st[k]?.string, !v.isEmpty, TerminalText.isPlain(v), !v.contains(" ") else {
                            throw fail("router.servers", "\"\(k)\" must be the name of a server in the backend (a string, no spaces or control characters)")
                        }
                        servers[k] = v
                    }
                    let deployed = [from.name, to.name] + more.map(\.name)
                    for v in deployed where !v.isEmpty && servers[v] == nil {
                        throw fail("router.servers", "no server for version \(v); expected \"\(v)\" = \"SERVER\"")
                    }
                    // One server per version: two versions on one server would be set, read back
                    // and judged as one (a take-out of one could not take it out).
                    var owner: [String: String] = [:]
                    for v in deployed where !v.isEmpty {
                        guard let server = servers[v] else { continue }
                        if let other = owner[server] {
                            throw fail("router.servers", "\(other) and \(v) share the server \"\(server)\": each version needs a server of its own")
                        }
                        owner[server] = v
                    }
                    routerKind = .haproxy(sockets: sockets, backend: backend, servers: servers)
                case "flag-file":
                    routerKind = .flagFile(path: try r.string(t, "router.path"), flag: try r.name(t, "router.flag"))
                default: throw fail("router.kind", "\"\(kind)\"\(didYouMeanText(kind, ["simulator", "haproxy", "flag-file"])): expected \"simulator\", \"haproxy\" or \"flag-file\"")
                }
            }
        }
        let realRouter: Bool = { if case .simulator = routerKind { return false }; return true }()

        // [metrics]
        var metricsKind = DeployConfig.MetricsKind.simulator
        if let t = root["metrics"]?.table {
            collect { () throws(ConfigError) in
                let kind = try r.string(t, "metrics.kind")
                switch kind {
                case "simulator":
                    metricsKind = .simulator
                    if realRouter, !simulate.contains("metrics") {
                        throw fail("metrics.kind", "a real router judged on simulated metrics: set [metrics] kind = \"haproxy-stats\" or \"prometheus\", or say simulate = [\"metrics\"] in [deploy]")
                    }
                case "haproxy-stats":
                    guard case .haproxy = routerKind else { throw fail("metrics.kind", "\"haproxy-stats\" reads the router's HAProxy: set [router] kind = \"haproxy\", or use kind = \"prometheus\"") }
                    metricsKind = .haproxyStats
                case "prometheus":
                    let url = try r.string(t, "metrics.url")
                    guard url.hasPrefix("http://") else { throw fail("metrics.url", "\"\(url)\": expected http://HOST:PORT") }
                    guard let q = t["queries"]?.table else {
                        throw fail("metrics.queries", "expected queries = { requests = \"PromQL\", errors = \"PromQL\", latency = \"PromQL\" } with {version} or {server}")
                    }
                    for k in q.keys.sorted() where !["requests", "errors", "latency", "slow"].contains(k) {
                        throw fail("metrics.queries.\(k)", "unknown query\(didYouMeanText(k, ["requests", "errors", "latency", "slow"])); expected requests, errors, latency, slow")
                    }
                    metricsKind = .prometheus(url: url, requests: try r.string(q, "metrics.queries.requests"), errors: try r.string(q, "metrics.queries.errors"),
                                              latency: try r.optionalString(q, "metrics.queries.latency"), slow: try r.optionalString(q, "metrics.queries.slow"))
                default: throw fail("metrics.kind", "\"\(kind)\"\(didYouMeanText(kind, ["simulator", "haproxy-stats", "prometheus"])): expected \"simulator\", \"haproxy-stats\" or \"prometheus\"")
                }
            }
        } else if realRouter, !simulate.contains("metrics"), root["router"] != nil {
            errors.append(fail("router", "a real router with no [metrics]: the judge would see simulated traffic. Add [metrics] kind = \"haproxy-stats\" or \"prometheus\", or say simulate = [\"metrics\"] in [deploy]"))
        }
        if realRouter, !stages.isEmpty, specs.isEmpty, !external, !simulate.contains("pipeline") {
            errors.append(fail("pipeline.stage", "with a real router these stages would only be simulated (none has run or script): give each a command, or say simulate = [\"pipeline\"] in [deploy]"))
        }

        // [serve]
        var serve = ServeSettings()
        if let t = root["serve"]?.table {
            collect { () throws(ConfigError) in serve.group = try r.optionalName(t, "serve.group") }
            collect { () throws(ConfigError) in
                guard let text = try r.optionalString(t, "serve.tcp") else { return }
                let parts = text.split(separator: ":", omittingEmptySubsequences: false)
                guard parts.count == 2, !parts[0].isEmpty, let port = Int(parts[1]), (0...65535).contains(port) else {
                    throw fail("serve.tcp", "\"\(TerminalText.neutralise(text))\" is not HOST:PORT (a port 0 to 65535), e.g. \"127.0.0.1:7070\"")
                }
                serve.tcpHost = String(parts[0])
                serve.tcpPort = port
            }
            collect { () throws(ConfigError) in
                guard let env = try r.optionalString(t, "serve.token_env") else { return }
                guard !env.isEmpty, env.unicodeScalars.allSatisfy({ ($0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil)) || $0 == "_" }) else {
                    throw fail("serve.token_env", "expected the name of an environment variable (letters, digits, _), e.g. \"FRIDAY_TOKEN\"")
                }
                serve.tokenEnv = env
            }
        }

        // [store]
        var store: StoreAddress?
        if let t = root["store"]?.table {
            collect { () throws(ConfigError) in
                guard let text = try r.optionalString(t, "store.url") else { throw fail("store", "expected url = \"postgres://USER@HOST:PORT/DATABASE\"") }
                do throws(StoreAddressError) { store = try StoreAddress(parsing: text, environment: ProcessInfo.processInfo.environment) } catch {
                    throw fail("store.url", "\(error.message) (a password can come from $PGPASSWORD instead of the file)")
                }
            }
        }

        // [notify]
        var notify = NotifySettings()
        if let t = root["notify"]?.table {
            collect { () throws(ConfigError) in
                guard let url = try r.optionalString(t, "notify.webhook") else { return }
                guard url.hasPrefix("http://") || url.hasPrefix("https://"), url.count <= 2000, TerminalText.isPlain(url), !url.contains(" ") else {
                    throw fail("notify.webhook", "expected an http:// or https:// URL (a Slack incoming webhook, or your own receiver)")
                }
                notify.webhook = url
            }
            collect { () throws(ConfigError) in notify.channel = try r.optionalName(t, "notify.channel") }
            if let ev = t["events"] {
                collect { () throws(ConfigError) in
                    guard let items = ev.array else { throw fail("notify.events", "expected a list such as [\"failed\", \"reverted\", \"held\", \"finished\"]") }
                    var chosen: Set<NotifySettings.Event> = []
                    for item in items {
                        guard let name = item.string, let e = NotifySettings.Event(rawValue: name) else {
                            throw fail("notify.events", "\"\(TerminalText.neutralise(item.string ?? "?"))\": expected some of \(NotifySettings.Event.allCases.map(\.rawValue).joined(separator: ", "))")
                        }
                        chosen.insert(e)
                    }
                    notify.events = chosen
                }
            }
            if let b = t["bell"] {
                collect { () throws(ConfigError) in
                    guard let v = b.bool else { throw fail("notify.bell", "expected true or false") }
                    notify.bell = v
                }
            }
            if t["timeout"] != nil { collect { () throws(ConfigError) in notify.timeout = try r.double(t, "notify.timeout", in: 0.1...60, what: "seconds from 0.1 to 60") } }
            if t["retries"] != nil { collect { () throws(ConfigError) in notify.retries = try r.int(t, "notify.retries", in: 0...10, what: "a whole number 0 to 10") } }
        }
        // [git]
        var git = GitSettings()
        if let t = root["git"]?.table {
            for key in ["revert", "push"] where t[key] != nil {
                collect { () throws(ConfigError) in
                    guard let b = t[key]?.bool else { throw fail("git.\(key)", "expected true or false") }
                    if key == "revert" { git.revert = b } else { git.push = b }
                }
            }
            collect { () throws(ConfigError) in
                if let remote = try r.optionalString(t, "git.remote") {
                    guard GitSettings.isRefName(remote) else { throw fail("git.remote", "\"\(TerminalText.neutralise(remote))\" is not a remote name git takes (letters, digits, ._/-)") }
                    git.remote = remote
                }
            }
            collect { () throws(ConfigError) in
                if let base = try r.optionalString(t, "git.base") {
                    guard GitSettings.isRefName(base) else { throw fail("git.base", "\"\(TerminalText.neutralise(base))\" is not a branch, tag or commit name (letters, digits, ._/-)") }
                    git.base = base
                }
            }
            if let v = t["timeout"] {
                collect { () throws(ConfigError) in
                    guard let text = v.string, let secs = parseDuration(text), secs > 0, secs <= 600 else { throw fail("git.timeout", "expected a duration above 0 and at most 10m, such as \"30s\"") }
                    git.timeout = secs
                }
            }
            if git.revert, repo == nil { errors.append(fail("git.revert", "a revert in git needs the checkout: set repo = \"PATH\" in [deploy]")) }
            if git.push, !git.revert { errors.append(fail("git.push", "push = true pushes the revert branch: it needs revert = true")) }
        }
        // [hooks]
        var hooks = HookSettings()
        if let t = root["hooks"]?.table {
            if let v = t["timeout"] {
                collect { () throws(ConfigError) in
                    guard let text = v.string, let secs = parseDuration(text), secs > 0, secs <= 3600 else { throw fail("hooks.timeout", "expected a duration above 0 and at most 1h, such as \"30s\"") }
                    hooks.timeout = secs
                }
            }
            for e in HookSettings.Event.allCases {
                guard let v = t[e.rawValue] else { continue }
                collect { () throws(ConfigError) in
                    let key = "hooks.\(e.rawValue)"
                    guard let list = v.array, !list.isEmpty else { throw fail(key, "expected a list of arguments such as [\"./notify-oncall.sh\"] (no shell; FRIDAY_* variables say what happened)") }
                    var argv: [String] = []
                    for a in list {
                        guard let s = a.string, !s.contains("\u{0}"), s.utf8.count <= 8192 else { throw fail(key, "every argument must be a string (no NUL, at most 8 kB)") }
                        argv.append(s)
                    }
                    if argv[0].isEmpty { throw fail(key, "the first argument names the program: it must not be empty") }
                    hooks.commands[e] = argv
                }
            }
            hooks.dir = { let d = (file as NSString).deletingLastPathComponent; return d.isEmpty ? "." : d }()
        }

        // [simulator]
        var sim = SimulationSettings()
        if let t = root["simulator"]?.table {
            if t["scenario"] != nil {
                collect { () throws(ConfigError) in
                    let s = try r.string(t, "simulator.scenario")
                    guard let sc = Scenario(rawValue: s) else {
                        throw fail("simulator.scenario", "\"\(s)\"\(didYouMeanText(s, Scenario.allCases.map(\.rawValue))): expected one of \(Scenario.allCases.map(\.rawValue).joined(separator: ", "))")
                    }
                    sim.scenario = sc
                    // The scenario's own traffic, unless the file gives it (below).
                    if let r = sc.requestsPerSecond { sim.requestsPerSecond = r }
                    if let e = sc.baseErrorRate { sim.baseErrorRate = e }
                }
            }
            if t["seed"] != nil { collect { () throws(ConfigError) in sim.seed = UInt64(try r.int(t, "simulator.seed", in: 0...Int.max, what: "a whole number ≥ 0")) } }
            if t["requests_per_second"] != nil { collect { () throws(ConfigError) in sim.requestsPerSecond = try r.double(t, "simulator.requests_per_second", in: 1...1_000_000, what: "a number of requests per second, 1 or more") } }
            if t["base_error_rate"] != nil { collect { () throws(ConfigError) in sim.baseErrorRate = try r.double(t, "simulator.base_error_rate", in: 0...0.5, what: "a fraction between 0 and 0.5") } }
            if t["canary_error_rate"] != nil { collect { () throws(ConfigError) in sim.canaryErrorRate = try r.double(t, "simulator.canary_error_rate", in: 0...1, what: "a fraction between 0 and 1") } }
            if t["canary_errors_from_step"] != nil {
                collect { () throws(ConfigError) in sim.canaryErrorsFromStep = try r.int(t, "simulator.canary_errors_from_step", in: 1...100, what: "a rollout step's number, from 1") - 1 }
            }
            if t["canary_errors_after"] != nil {
                collect { () throws(ConfigError) in
                    let text = try r.string(t, "simulator.canary_errors_after")
                    guard let secs = parseDuration(text) else { throw fail("simulator.canary_errors_after", "\"\(text)\" is not a duration from 0s to 30 days; use 30s, 5m or 1h") }
                    sim.canaryErrorsAfter = secs
                }
            }
        }

        if var first = errors.min(by: ConfigError.fileOrder) {
            let sorted = errors.sorted(by: ConfigError.fileOrder)
            first.also = Array(sorted.dropFirst())
            throw first
        }
        sim.service = service
        sim.from = from
        sim.to = to
        let plan = RolloutPlan(steps: steps, moreCandidates: more.isEmpty ? nil : more, benchmark: benchmark ? true : nil)
        sim.plan = plan
        sim.stageNames = stages
        sim.startedBy = by ?? "lee"
        if realRouter { sim.simulateTeam = false }
        var config = DeployConfig(file: file, id: id, service: service, by: by, from: from, to: to, stages: stages, plan: plan,
                                  judge: judge, router: routerKind, metrics: metricsKind, simulation: sim)
        config.serve = serve
        config.store = store
        config.expectedRequestsPerSecond = expectedTraffic
        config.expectedErrorRate = expectedErrors
        config.stepLines = plan.steps.indices.map { lines.line(of: "rollout.step[\($0 + 1)].pause") ?? lines.line(of: "rollout.step[\($0 + 1)]") }
        config.notify = notify
        config.stageSpecs = specs
        config.repo = repo
        config.web = web
        config.git = git
        config.hooks = hooks
        config.bigChange = bigChange
        config.externalPipeline = external && !stages.isEmpty
        config.simulation.runStages = specs.isEmpty && !config.externalPipeline
        if realRouter { config.simulatedParts = simulate.filter { $0 == "pipeline" ? !stages.isEmpty && specs.isEmpty && !external : metricsKind == .simulator } }
        return config
    }

    static func version(_ t: TOMLTable, _ key: String, _ r: Reader) throws(ConfigError) -> VersionRef {
        let name = key.split(separator: ".").last.map(String.init) ?? key
        guard let v = t[name] else { throw r.fail(key, "missing: { version = \"v1.2.3\", commit = \"abc123\" }", nil) }
        guard let vt = v.table else { throw r.fail(key, "expected a table { version = \"…\", commit = \"…\" }", nil) }
        return try versionTable(vt, key, r)
    }

    static func versionTable(_ vt: TOMLTable, _ key: String, _ r: Reader) throws(ConfigError) -> VersionRef {
        for k in vt.keys where !["version", "commit"].contains(k) {
            throw r.fail("\(key).\(k)", "unknown key\(didYouMeanText(k, ["version", "commit"])); expected version and commit", nil)
        }
        return VersionRef(name: try r.name(vt, "\(key).version"), commit: try r.optionalName(vt, "\(key).commit") ?? "")
    }

    static func didYouMeanText(_ word: String, _ candidates: [String]) -> String {
        didYouMean(word, among: candidates).map { " (did you mean \"\($0)\"?)" } ?? ""
    }

    /// `90s`, `5m`, `1h30m`, `2h`, `45` (seconds).
    /// Nil for anything else, and for durations past 30 days, `inf`, `nan` or exponents.
    public static func parseDuration(_ text: String) -> Double? {
        guard !text.isEmpty, text.count <= 32, text.allSatisfy({ $0.isASCII && ($0.isNumber || "hms.".contains($0)) }) else { return nil }
        guard let total = parseDurationUnchecked(text), total.isFinite, InputRange.seconds.contains(total) else { return nil }
        return total
    }

    static func parseDurationUnchecked(_ text: String) -> Double? {
        if let n = Double(text), n >= 0 { return n }
        // Each unit at most once and in the order h, m, s ("1h1h" is not 2 h: a typo, refused).
        var total = 0.0, number = "", sawUnit = false, rank = 0
        for c in text {
            if c.isNumber || c == "." { number.append(c); continue }
            guard let n = Double(number) else { return nil }
            let (scale, order): (Double, Int) = switch c {
            case "h": (3600, 1)
            case "m": (60, 2)
            case "s": (1, 3)
            default: (0, 0)
            }
            guard order > rank else { return nil }
            total += n * scale
            rank = order
            number = ""; sawUnit = true
        }
        return number.isEmpty && sawUnit ? total : nil
    }
}

/// Typed reads with errors that name the key.
struct Reader {
    let failWith: (String?, String, Int?) -> ConfigError
    init(fail: @escaping (String?, String, Int?) -> ConfigError) { failWith = fail }
    func fail(_ key: String?, _ m: String, _ line: Int?) -> ConfigError { failWith(key, m, line) }

    private func last(_ key: String) -> String { key.split(separator: ".").last.map(String.init) ?? key }

    func string(_ t: TOMLTable, _ key: String) throws(ConfigError) -> String {
        guard let v = t[last(key)] else { throw fail(key, "missing (a string)", nil) }
        guard let s = v.string else { throw fail(key, "expected a string, got \(v.type)", nil) }
        return s
    }
    func optionalString(_ t: TOMLTable, _ key: String) throws(ConfigError) -> String? {
        guard let v = t[last(key)] else { return nil }
        guard let s = v.string else { throw fail(key, "expected a string, got \(v.type)", nil) }
        return s
    }
    /// A name shown to people (service, version, stage, who): not empty, at most 200
    /// characters, no control or bidi characters.
    func name(_ t: TOMLTable, _ key: String) throws(ConfigError) -> String {
        let s = try string(t, key)
        try checkName(s, key)
        return s
    }
    func optionalName(_ t: TOMLTable, _ key: String) throws(ConfigError) -> String? {
        guard let s = try optionalString(t, key) else { return nil }
        try checkName(s, key)
        return s
    }
    private func checkName(_ s: String, _ key: String) throws(ConfigError) {
        if s.trimmingCharacters(in: " \t").isEmpty { throw fail(key, "must not be empty", nil) }
        if s.count > 200 { throw fail(key, "is \(s.count) characters long: at most 200", nil) }
        if !TerminalText.isPlain(s) { throw fail(key, "\"\(TerminalText.neutralise(s))\" holds control or bidi characters: use plain text", nil) }
    }
    func int(_ t: TOMLTable, _ key: String, in range: ClosedRange<Int>, what: String) throws(ConfigError) -> Int {
        guard let v = t[last(key)] else { throw fail(key, "missing (\(what))", nil) }
        guard let n = v.int else { throw fail(key, "expected \(what), got \(v.type) \(v.debugText)", nil) }
        guard range.contains(n) else { throw fail(key, "\(n) is out of range: expected \(what)", nil) }
        return n
    }
    func double(_ t: TOMLTable, _ key: String, in range: ClosedRange<Double>, what: String) throws(ConfigError) -> Double {
        guard let v = t[last(key)] else { throw fail(key, "missing (\(what))", nil) }
        guard let n = v.double ?? v.int.map(Double.init) else { throw fail(key, "expected \(what), got \(v.type) \(v.debugText)", nil) }
        guard range.contains(n) else { throw fail(key, "\(n) is out of range: expected \(what)", nil) }
        return n
    }
}

extension ConfigError {
    /// File order: by line (errors with no line last), then by key.
    static func fileOrder(_ a: ConfigError, _ b: ConfigError) -> Bool {
        (a.line ?? Int.max, a.key ?? "", a.message) < (b.line ?? Int.max, b.key ?? "", b.message)
    }
}

extension TOMLValueConvertible {
    var debugText: String { string.map { "\"\($0)\"" } ?? "" }
}

/// Finds the line of a dotted key (`rollout.step[2].weight`) in the file's text.
struct KeyLines {
    private var lines: [String: Int] = [:]
    let count: Int

    init(_ text: String) {
        var table = ""
        var arrayCounts: [String: Int] = [:]
        let all = text.split(separator: "\n", omittingEmptySubsequences: false)
        count = all.count
        for (i, raw) in all.enumerated() {
            let line = raw.trimmingCharacters(in: " \t")
            if line.hasPrefix("[[") {
                let name = String(line.dropFirst(2).prefix { $0 != "]" }).trimmingCharacters(in: " \t")
                arrayCounts[name, default: 0] += 1
                table = "\(name)[\(arrayCounts[name]!)]"
                if lines[name] == nil { lines[name] = i + 1 }
                lines[table] = i + 1
                let section = String(name.split(separator: ".").first ?? "")
                if lines[section] == nil { lines[section] = i + 1 }
            } else if line.hasPrefix("[") {
                table = String(line.dropFirst().prefix { $0 != "]" }).trimmingCharacters(in: " \t")
                lines[table] = i + 1
            } else if let eq = line.firstIndex(of: "="), !line.hasPrefix("#") {
                let key = String(line[..<eq]).trimmingCharacters(in: " \t\"")
                let full = table.isEmpty ? key : "\(table).\(key)"
                if lines[full] == nil { lines[full] = i + 1 }
                // Inline tables: `from = { version = "…" }` gives from.version the same line.
                if line[eq...].contains("{") {
                    for part in line[eq...].dropFirst().split(separator: ",") {
                        if let e2 = part.firstIndex(of: "=") {
                            let k = part[..<e2].trimmingCharacters(in: " \t{\"")
                            if lines["\(full).\(k)"] == nil { lines["\(full).\(k)"] = i + 1 }
                        }
                    }
                }
            }
        }
    }

    /// The line of `key`, or of its closest enclosing table.
    func line(of key: String) -> Int? {
        var k = key
        while true {
            if let l = lines[k] { return l }
            if let dot = k.lastIndex(of: ".") { k = String(k[..<dot]) } else { return nil }
        }
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}

extension DeployConfig {
    /// The router, metrics source and event sources this file describes.
    /// The router, the metrics and the event sources; `outputDir` holds the stages' full output.
    public func providers(outputDir: String = ".") -> (router: any TrafficRouter, metrics: any MetricsSource, sources: [any EventSource]) {
        var p = basicProviders()
        if let repo { p.sources.append(GitChange(repo: repo, from: from.commit, to: to.commit, bigOver: bigChange, web: web)) }
        guard !stageSpecs.isEmpty else { return p }
        let pipeline = CommandPipeline(specs: stageSpecs, deployID: id, service: service, from: from, to: to, outputDir: outputDir)
        return (p.router, p.metrics, p.sources + [pipeline])
    }

    private func basicProviders() -> (router: any TrafficRouter, metrics: any MetricsSource, sources: [any EventSource]) {
        switch router {
        case .simulator:
            return (SimulatedRouter(), SimulatedTraffic(settings: simulation), [SimulatedDeploy(settings: simulation)])
        case let .haproxy(sockets, backend, servers):
            let r = HAProxyRouter(instances: sockets.map { HAProxyRuntime(address: $0) }, backend: backend, servers: servers)
            let m: any MetricsSource
            switch metrics {
            case .haproxyStats: m = HAProxyStats(router: r)
            case let .prometheus(url, requests, errors, latency, slow):
                m = PrometheusMetrics(url: url, requestRate: requests, errorRate: errors, latency: latency, servers: servers, slowRate: slow)
            case .simulator: m = SimulatedTraffic(settings: simulation)
            }
            return (r, m, [SimulatedDeploy(settings: simulation)])
        case let .flagFile(path, flag):
            var m: any MetricsSource = SimulatedTraffic(settings: simulation)
            if case let .prometheus(url, requests, errors, latency, slow) = metrics {
                m = PrometheusMetrics(url: url, requestRate: requests, errorRate: errors, latency: latency, servers: [:], slowRate: slow)
            }
            return (FlagFileRouter(path: path, flag: flag, from: from.name, to: to.name, more: (plan.moreCandidates ?? []).map(\.name)), m, [SimulatedDeploy(settings: simulation)])
        }
    }
}

/// `[serve]`: who else may attach to a served engine and how.
public struct ServeSettings: Sendable, Equatable {
    /// A group whose members may use the Unix socket (mode 0660); nil keeps it 0600.
    public var group: String?
    public var tcpHost: String?
    public var tcpPort: Int?
    /// The environment variable that holds the TCP token.
    public var tokenEnv = "FRIDAY_TOKEN"
    public init() {}
}

/// `[notify]`: a webhook (Slack incoming-webhook JSON) for chosen events, and the bell.
public struct NotifySettings: Sendable, Equatable {
    public enum Event: String, Sendable, CaseIterable, Hashable { case failed, reverted, held, finished, step }
    public var webhook: String?
    public var channel: String?
    public var events: Set<Event> = [.failed, .reverted, .held, .finished]
    /// Ring the terminal bell on a failed verdict or a hold (tmux marks the window).
    public var bell = true
    public var timeout: Double = 5
    public var retries = 3
    public init() {}
}

/// `[git]`: after a revert, `git revert` commits for the deployed range on a branch of
/// their own (`friday/revert-ID`), made in a temporary worktree; pushed only if asked.
public struct GitSettings: Sendable, Equatable {
    public var revert = false
    public var push = false
    public var remote = "origin"
    /// What the revert branch starts from: the deployed commit unless named (never the
    /// checkout's HEAD by default: it may hold someone's unpushed work).
    public var base: String?
    public var timeout: Double = 30
    public init() {}

    /// A remote, branch or tag name friday passes to git: letters, digits, `._/-`, not starting with `-`.
    public static func isRefName(_ s: String) -> Bool {
        !s.isEmpty && s.count <= 200 && !s.hasPrefix("-") && !s.contains("..")
            && s.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil || "._/-".unicodeScalars.contains($0)) }
    }

    /// An http(s) address with no spaces or controls, at most 300 characters.
    public static func isWebLink(_ s: String) -> Bool {
        (s.hasPrefix("https://") || s.hasPrefix("http://")) && s.count > 8 && s.count <= 300
            && s.unicodeScalars.allSatisfy { $0.isASCII && $0.value > 0x20 && $0.value < 0x7F && $0 != "\"" && $0 != "<" && $0 != ">" }
    }

    /// The page of commit `hash` under `web`.
    public static func link(_ web: String, hash: String) -> String {
        if web.contains("{hash}") { return web.replacingOccurrences(of: "{hash}", with: hash) }
        return (web.hasSuffix("/") ? String(web.dropLast()) : web) + "/commit/" + hash
    }
}

/// `[hooks]`: commands run on deploy events, each with a timeout; results go to the team log.
public struct HookSettings: Sendable, Equatable {
    public enum Event: String, Sendable, CaseIterable, Hashable, Comparable {
        case started, step, held, promoted, reverted, failed, finished
        /// One candidate of several taken out of rotation (the others go on).
        case candidateReverted = "candidate_reverted"
        public static func < (a: Event, b: Event) -> Bool { a.rawValue < b.rawValue }
    }
    public var commands: [Event: [String]] = [:]
    public var timeout: Double = 30
    public var dir = "."
    public init() {}
}
