import ArgumentParser
import Foundation
import FridayCore
import FridayIntegrations

/// `friday check FILE`: validates a deploy file and prints the plan it describes, and, when
/// the traffic is known, what the judge can decide at each step.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check a deploy file and print the plan it describes.",
                                                    discussion: """
        With the service's traffic (--traffic, [analysis] expected_requests_per_second, or the \
        simulator's requests_per_second) it also prints, for each step, how long a healthy canary \
        needs to pass and a regressed one to fail, and warns (FILE:LINE) where a step cannot be \
        decided within its pause plus max_extension, naming a plan that can.
        """)

    @Argument(help: "The deploy file.", completion: .file(extensions: ["toml"]))
    var file: String = "friday.toml"

    @Option(help: ArgumentHelp("The service's requests per second in all: 200, 200/s, 12000/m.", valueName: "rate"))
    var traffic: String?

    @Option(name: .customLong("error-rate"), help: ArgumentHelp("The service's error rate: 0.4% or 0.004 (default: the slowest for the judge).", valueName: "rate"))
    var errorRate: String?

    @Flag(help: "Ask no metrics source (Prometheus) for the last hour's traffic.")
    var offline = false

    func run() throws {
        let config = try loadConfig(file)
        var requests: Double?, source = ""
        if let traffic {
            guard let r = JudgeForecast.parseTraffic(traffic) else {
                throw ExitWith(message: "--traffic \(TerminalText.neutralise(String(traffic.prefix(80)))): expected requests per second from 0.001 to 10,000,000, as 200, 200/s, 12000/m or 720000/h")
            }
            requests = r; source = "--traffic"
        } else if let r = config.expectedRequestsPerSecond {
            requests = r; source = "expected_requests_per_second"
        } else if case .simulator = config.metrics {
            requests = config.simulation.requestsPerSecond; source = "the simulator's requests_per_second"
        }
        var errors: Double?
        var asked: String?
        if requests == nil, !offline, case let .prometheus(url, requestQuery, errorQuery, _, _) = config.metrics {
            // Where the metrics source can say: the old version's last hour (it takes all the traffic before a deploy).
            let servers: [String: String] = { if case let .haproxy(_, _, servers) = config.router { return servers }; return [:] }()
            let p = PrometheusMetrics(url: url, requestRate: requestQuery, errorRate: errorQuery, latency: nil, servers: servers)
            do {
                let (r, e) = try p.lastHour(version: config.from.name)
                if r > 0 {
                    requests = r; source = "Prometheus: \(config.from.name)'s average over the last hour"
                    errors = e // unless --error-rate or expected_error_rate says otherwise (below)
                } else {
                    asked = "Prometheus says \(config.from.name) had no traffic in the last hour"
                }
            } catch {
                asked = "could not ask Prometheus for the last hour's traffic: \(error)"
            }
        }
        if let errorRate {
            guard let e = JudgeForecast.parseRate(errorRate) else { throw ExitWith(message: "--error-rate \(TerminalText.neutralise(String(errorRate.prefix(80)))): expected a rate from 0 to 50%, as 0.4% or 0.004") }
            errors = e
        } else if let e = config.expectedErrorRate {
            errors = e
        } else if errors == nil, case .simulator = config.metrics {
            errors = config.simulation.baseErrorRate
        }
        Plain.out("\(file): ok")
        for line in config.planDescription { Plain.out("  " + line) }
        Plain.out("  log: \(defaultLogPath(for: config))")
        guard let requests else {
            Plain.out("  judge: " + (asked.map { "\($0); " } ?? "") + "give the service's traffic (--traffic 200/s, or expected_requests_per_second in [analysis]) to see what each step can decide")
            return
        }
        let forecast = JudgeForecast.make(judge: config.judge, plan: config.plan, requestsPerSecond: requests, errorRate: errors)
        let report = forecast.report(judge: config.judge, plan: config.plan, file: file, stepLines: config.stepLines, source: source)
        for line in report.lines { Plain.out("  " + line) }
        for w in report.warnings { Plain.err(w) }
    }
}

/// Reads a deploy file; errors become a message with file:line and key.
func loadConfig(_ path: String) throws -> DeployConfig {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
        throw ExitWith(message: "\(path): cannot read the deploy file (does it exist? `friday check PATH` validates one)")
    }
    do { return try DeployConfigParser.parse(text, file: path) } catch { throw ExitWith(message: error.description) }
}

/// `$XDG_STATE_HOME/friday/deploys/ID.jsonl` (XDG_STATE_HOME defaults to ~/.local/state).
func defaultLogPath(for config: DeployConfig) -> String { defaultLogPath(forID: config.id) }
