import Foundation
import FridayCore
import FridayEngine
import FridayIntegrations
import FridayTesting
import FridayUI

/// The parsers that read what comes from outside, each with the properties it must keep on
/// any input: never trap, never hang, and where it accepts an input, read back what it wrote.
/// A broken property is a `precondition` failure, so libFuzzer and the in-process runner
/// both see it as a crash and keep the input.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// A line of the event log, read back after a crash: the CRC check, the JSON parser, the
    /// payload decoder, the range checks, and the reducer's "can this line follow?".
    case eventLine = "event-line"
    /// A deploy file (`friday check`, `friday run`).
    case deployFile = "deploy-file"
    /// A theme file and the user config.
    case theme
    /// A line from an attached client (and, the other way, from the engine).
    case wire
    /// HAProxy's answer to `show stat`, folded into samples.
    case haproxyStat = "haproxy-stat"
    /// Prometheus's answer to an instant query.
    case prometheus

    public func run(_ data: [UInt8]) {
        switch self {
        case .eventLine: FuzzTarget.eventLine(data)
        case .deployFile: FuzzTarget.deployFile(data)
        case .theme: FuzzTarget.theme(data)
        case .wire: FuzzTarget.wire(data)
        case .haproxyStat: FuzzTarget.haproxyStat(data)
        case .prometheus: FuzzTarget.prometheus(data)
        }
    }

    // MARK: the properties

    /// The first byte picks: even, the rest is an event's JSON and gets a right checksum (so
    /// the decoder behind the CRC is reached); odd, the rest is the raw line.
    static func eventLine(_ data: [UInt8]) {
        guard let mode = data.first else { return }
        var line = Array(data.dropFirst())
        if mode & 1 == 0 { line = withChecksum(line) }
        guard let e = try? EventLog.event(fromLine: line) else { return }
        // What was read is written back the same, and that line reads back to the same event.
        let again = EventLog.line(for: e)
        precondition((try? EventLog.event(fromLine: Array(again.utf8))) == e, "an event does not round-trip: \(again)")
        precondition(jsonIsClean(again), "a log line carries a raw control, C1 or bidi character: \(again)")
        // Folding it after an empty and a rolling state never traps.
        for var s in [DeployState(), rolling] {
            if Reducer.problem(with: DeployEvent(seq: s.lastSeq + 1, ts: e.ts, deploy: e.deploy, payload: e.payload), after: s) == nil {
                Reducer.reduce(&s, DeployEvent(seq: s.lastSeq + 1, ts: e.ts, deploy: e.deploy, payload: e.payload))
            }
        }
    }

    static let rolling: DeployState = EventFixture.rolling(step: 1).state

    /// A line with the CRC friday would write for `body` (which should end in `}`).
    public static func withChecksum(_ body: [UInt8]) -> [UInt8] {
        let crc = CRC32.checksum(body)
        var line = body.last == UInt8(ascii: "}") ? Array(body.dropLast()) : body
        line += Array(",\"crc\":\"\(CRC32.hex(crc))\"}".utf8)
        return line
    }

    /// No byte below 0x20 and no C1 or bidi control unescaped in JSON text we write.
    static func jsonIsClean(_ s: String) -> Bool {
        !s.unicodeScalars.contains { c in
            c.value < 0x20 || (0x7F...0x9F).contains(c.value) || (0x202A...0x202E).contains(c.value)
                || (0x2066...0x2069).contains(c.value) || c.value == 0x200E || c.value == 0x200F || c.value == 0x061C
                || c.value == 0x2028 || c.value == 0x2029
        }
    }

    static func deployFile(_ data: [UInt8]) {
        let text = String(decoding: data, as: UTF8.self)
        let a = Result { () throws(ConfigError) in try DeployConfigParser.parse(text, file: "fuzz.toml") }
        let b = Result { () throws(ConfigError) in try DeployConfigParser.parse(text, file: "fuzz.toml") }
        // The same file gives the same answer (errors listed in file order, every time).
        precondition(a == b, "a deploy file parses differently twice")
        if case let .success(cfg) = a {
            // A plan that was accepted is one the engine can carry out.
            for step in cfg.plan.steps { precondition((0...100).contains(step.weight), "a step weight outside 0–100 was accepted") }
        }
    }

    static func theme(_ data: [UInt8]) {
        let text = String(decoding: data, as: UTF8.self)
        if let t = try? Theme.parse(text, file: "fuzz.toml") {
            for style in t.styles.values {
                for colors in [8, 16, 88, 256, 1 << 24] {
                    let r = Theme.resolve(style, colors: colors)
                    precondition(r.fg >= -1 && r.bg >= -1, "a colour below the terminal's default")
                    if colors < 1 << 24 { precondition(r.fg < Int32(colors) && r.bg < Int32(colors), "a colour the terminal does not have: \(r) on \(colors)") }
                }
            }
        }
        _ = UserConfig.parse(text, file: "fuzz.toml")
    }

    static func wire(_ data: [UInt8]) {
        if let m = try? Wire.ClientMessage.decode(data) {
            let line = m.line
            precondition(jsonIsClean(line), "a client message is written with a raw control character: \(line)")
            precondition((try? Wire.ClientMessage.decode(Array(line.utf8))) == m, "a client message does not round-trip: \(line)")
        }
        let text = String(decoding: data, as: UTF8.self)
        if let m = try? Wire.ServerMessage.decode(text) {
            precondition(jsonIsClean(m.line), "a server message is written with a raw control character")
        }
    }

    static let statsSource = HAProxyStats(router: HAProxyRouter(instances: [HAProxyRuntime(address: "a"), HAProxyRuntime(address: "b")],
                                                                backend: "app", servers: ["v1": "blue", "v2": "green"]))

    /// Up to four answers, split at NUL bytes: two instances, sampled twice.
    static func haproxyStat(_ data: [UInt8]) {
        let parts = data.split(separator: 0, maxSplits: 3, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        var answers: [[[String: String]]] = []
        for p in parts {
            guard let rows = try? HAProxyRuntime.parseStats(p, address: "a") else { return }
            answers.append(rows)
        }
        let stats = HAProxyStats(router: statsSource.router)
        var i = 0
        while i < answers.count {
            let batch = [("a", answers[i])] + (i + 1 < answers.count ? [("b", answers[i + 1])] : [])
            i += 2
            guard let samples = try? stats.fold(batch) else { continue }
            for s in samples where MetricsSample.problem(s) == nil {
                precondition(s.requests >= 0 && s.errors >= 0 && s.errors <= s.requests && s.p50.isFinite && s.p50 >= 0,
                             "a sample in range by its own check but not really: \(s)")
            }
        }
    }

    static func prometheus(_ data: [UInt8]) {
        let body = String(decoding: data, as: UTF8.self)
        if let v = try? PrometheusMetrics.value(fromAnswer: body, query: "q", url: "u") {
            precondition(v.isFinite, "a value that is not finite was taken: \(v)")
        }
    }
}
