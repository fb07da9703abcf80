import Foundation

/// The attach protocol between a served engine and its clients (dashboards, CLI verbs,
/// scripts): one JSON object per line, each with a `"type"`. See docs/protocol.md.
///
/// What a client sends is outside input: `ClientMessage.decode` checks every field and its
/// range and says what is wrong; nothing a client sends is trusted for who it is beyond
/// its hello (the server decides the name, the role and where it came from).
public enum Wire {
    public static let version = 1
    /// The longest line a server reads from a client (and a client from a server's snapshot is larger: see `maxServerLineBytes`).
    public static let maxClientLineBytes = 1024 * 1024
    /// The longest event line `friday ingest` takes from its input (each batch carries many).
    public static let maxEventLineBytes = 64 * 1024
    /// The most events, and refused lines, one `ingest` batch may carry.
    public static let maxBatch = 1024
    public static let maxServerLineBytes = 64 * 1024 * 1024
    public static let maxNameLength = 64
    public static let maxTextLength = 2000

    /// What a client may do: watch and chat, or also move traffic.
    public enum Role: String, Sendable, Codable, CaseIterable {
        case viewer, `operator`
        public func allows(_ a: Action) -> Bool { self == .operator || a == .say }
    }

    /// What kind of client is connecting: a dashboard (counts as watching) or a one-shot command.
    public enum ClientKind: String, Sendable, Codable, CaseIterable { case dashboard, cli }

    public struct Hello: Sendable, Equatable {
        public var version: Int
        public var name: String
        public var role: Role
        public var kind: ClientKind
        public var token: String?
        /// Whether the client wants the live events after its snapshot: dashboards do, a one-shot
        /// command (`status`, `promote`, `ingest`) does not unless it asks.
        public var events: Bool
        public init(name: String, role: Role, kind: ClientKind, token: String? = nil, version: Int = Wire.version, events: Bool? = nil) {
            self.version = version; self.name = name; self.role = role; self.kind = kind; self.token = token
            self.events = events ?? (kind == .dashboard)
        }
    }

    /// What to do with the traffic when an engine is stopped.
    public enum StopTraffic: String, Sendable, Codable, CaseIterable { case leave, pause, revert }

    public enum ClientMessage: Sendable, Equatable {
        case hello(Hello)
        /// `id` is the client's own number for the reply (0 to 2^53).
        /// `candidate`: with several candidates, the one a revert takes out alone.
        case command(id: Int, action: Action, text: String?, candidate: String? = nil)
        /// Send me the whole state again (after a gap in `seq`).
        case resync
        case stop(id: Int, traffic: StopTraffic, reason: String?)
        /// An event from an outside CI (`friday ingest`): `stage.started`, `stage.output`, `stage.finished`.
        case ingest(id: Int, type: String, data: JSONValue)
        /// Many lines of an outside CI's report at once, each with its line number, and the
        /// lines the client itself refused (not JSON, too long): checked and recorded in one
        /// go, answered by one `ingested`.
        case ingestBatch(id: Int, events: [IngestItem], refused: [LineRefusal])

        public var line: String {
            switch self {
            case let .hello(h):
                var pairs: [(String, JSONValue)] = [("type", .string("hello")), ("version", .number(Double(h.version))),
                                                    ("name", .string(h.name)), ("role", .string(h.role.rawValue)), ("kind", .string(h.kind.rawValue))]
                if let t = h.token { pairs.append(("token", .string(t))) }
                if h.events != (h.kind == .dashboard) { pairs.append(("events", .bool(h.events))) }
                return JSONValue.object(pairs).serialized
            case let .command(id, action, text, candidate):
                var pairs: [(String, JSONValue)] = [("type", .string("command")), ("id", .number(Double(id))), ("action", .string(action.rawValue))]
                if let text { pairs.append(("text", .string(text))) }
                if let candidate { pairs.append(("candidate", .string(candidate))) }
                return JSONValue.object(pairs).serialized
            case .resync:
                return JSONValue.object([("type", .string("resync"))]).serialized
            case let .stop(id, traffic, reason):
                var pairs: [(String, JSONValue)] = [("type", .string("stop")), ("id", .number(Double(id))), ("traffic", .string(traffic.rawValue))]
                if let reason { pairs.append(("reason", .string(reason))) }
                return JSONValue.object(pairs).serialized
            case let .ingest(id, type, data):
                return JSONValue.object([("type", .string("ingest")), ("id", .number(Double(id))),
                                         ("event", .object([("type", .string(type)), ("data", data)]))]).serialized
            case let .ingestBatch(id, events, refused):
                return JSONValue.object([("type", .string("ingest")), ("id", .number(Double(id))),
                                         ("events", .array(events.map { .object([("line", .number(Double($0.line))), ("event", .object([("type", .string($0.type)), ("data", $0.data)]))]) })),
                                         ("refused", .array(refused.map { .object([("line", .number(Double($0.line))), ("reason", .string($0.reason))]) }))]).serialized
            }
        }

        /// Reads one line from a client; the error says which field is wrong and what is expected.
        public static func decode(_ bytes: some Collection<UInt8>) throws(WireError) -> ClientMessage {
            guard bytes.count <= Wire.maxClientLineBytes else { throw WireError("line longer than \(Wire.maxClientLineBytes) bytes") }
            let v: JSONValue
            do { v = try JSONValue.parse(bytes: bytes) } catch { throw WireError("not JSON: \(error.description)") }
            guard case .object = v else { throw WireError("a message must be a JSON object") }
            guard let type = v["type"]?.stringValue else { throw WireError("missing \"type\" (hello, command, resync, stop or ingest)") }
            switch type {
            case "hello":
                guard let version = v["version"]?.intValue else { throw WireError("hello: missing \"version\" (this server speaks \(Wire.version))") }
                let name = try text(v, "name", required: true, limit: Wire.maxNameLength)!
                guard !name.isEmpty, name.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic || $0.properties.numericType != nil || "._-".unicodeScalars.contains($0) }) else {
                    throw WireError("hello: \"name\" must be 1 to \(Wire.maxNameLength) letters, digits, '.', '_' or '-'")
                }
                let roleText = try text(v, "role", required: false, limit: 16) ?? "viewer"
                guard let role = Role(rawValue: roleText) else { throw WireError("hello: \"role\" must be viewer or operator") }
                let kindText = try text(v, "kind", required: false, limit: 16) ?? "dashboard"
                guard let kind = ClientKind(rawValue: kindText) else { throw WireError("hello: \"kind\" must be dashboard or cli") }
                let token = try text(v, "token", required: false, limit: 1024)
                var events: Bool?
                if let e = v["events"], !e.isNull {
                    guard let b = e.boolValue else { throw WireError("hello: \"events\" must be true or false") }
                    events = b
                }
                return .hello(Hello(name: name, role: role, kind: kind, token: token, version: version, events: events))
            case "command":
                let id = try number(v, "id")
                let a = try text(v, "action", required: true, limit: 32)!
                guard let action = Action(rawValue: a) else { throw WireError("command: unknown \"action\" (one of \(Action.allCases.map(\.rawValue).joined(separator: ", ")))") }
                return .command(id: id, action: action, text: try text(v, "text", required: false, limit: Wire.maxTextLength),
                                candidate: try text(v, "candidate", required: false, limit: 200))
            case "resync":
                return .resync
            case "ingest":
                let id = try number(v, "id")
                if let list = v["events"] {
                    guard let items = list.arrayValue, items.count <= Wire.maxBatch else { throw WireError("ingest: \"events\" must be a list of at most \(Wire.maxBatch)") }
                    var events: [IngestItem] = []
                    events.reserveCapacity(items.count)
                    for item in items {
                        let line = try number(item, "line")
                        guard let ev = item["event"], case .object = ev, let t = ev["type"]?.stringValue else {
                            throw WireError("ingest: each of \"events\" needs \"line\" and an \"event\" with a \"type\"")
                        }
                        let data = ev["data"] ?? .object([])
                        guard case .object = data else { throw WireError("ingest: \"data\" must be an object (line \(line))") }
                        events.append(IngestItem(line: line, type: String(t.prefix(64)), data: data))
                    }
                    var refused: [LineRefusal] = []
                    if let r = v["refused"] {
                        guard let rs = r.arrayValue, rs.count <= Wire.maxBatch else { throw WireError("ingest: \"refused\" must be a list of at most \(Wire.maxBatch)") }
                        for item in rs {
                            refused.append(LineRefusal(line: try number(item, "line"), reason: String((try text(item, "reason", required: true, limit: 100_000)!).prefix(300))))
                        }
                    }
                    return .ingestBatch(id: id, events: events, refused: refused)
                }
                guard let ev = v["event"], case .object = ev else { throw WireError("ingest: missing \"event\" (an object with \"type\" and \"data\")") }
                guard let t = ev["type"]?.stringValue else { throw WireError("ingest: the event needs a \"type\" (stage.started, stage.output or stage.finished)") }
                let data = ev["data"] ?? .object([])
                guard case .object = data else { throw WireError("ingest: \"data\" must be an object") }
                return .ingest(id: id, type: String(t.prefix(64)), data: data)
            case "stop":
                let id = try number(v, "id")
                let t = try text(v, "traffic", required: true, limit: 16)!
                guard let traffic = StopTraffic(rawValue: t) else { throw WireError("stop: \"traffic\" must be leave, pause or revert") }
                return .stop(id: id, traffic: traffic, reason: try text(v, "reason", required: false, limit: Wire.maxTextLength))
            default:
                throw WireError("unknown \"type\" \"\(TerminalText.neutralise(String(type.prefix(40))))\" (hello, command, resync, stop or ingest)")
            }
        }

        private static func text(_ v: JSONValue, _ key: String, required: Bool, limit: Int) throws(WireError) -> String? {
            guard let field = v[key], !field.isNull else {
                if required { throw WireError("missing \"\(key)\"") }
                return nil
            }
            guard let s = field.stringValue else { throw WireError("\"\(key)\" must be a string") }
            guard s.count <= limit else { throw WireError("\"\(key)\" is longer than \(limit) characters") }
            return s
        }

        private static func number(_ v: JSONValue, _ key: String) throws(WireError) -> Int {
            guard let n = v[key]?.intValue, n >= 0 else { throw WireError("missing or bad \"\(key)\" (a whole number, 0 to 2^53)") }
            return n
        }
    }

    /// The server's first answer to a hello it accepts.
    public struct Welcome: Sendable, Equatable, Codable {
        public var type = "welcome"
        public var version: Int
        public var deploy: String
        /// The name the engine records for this client (its own name, made unique, with where it came from).
        public var who: String
        public var role: Role
        /// The engine's clock when the welcome was sent, and how fast it runs.
        public var now: Timestamp
        public var speed: Double
        public var label: String
        public var judge: CanaryJudge?
        /// Whether dashboards ring the bell on a failed verdict or a hold (`notify.bell`).
        public var bell: Bool?
        public init(version: Int = Wire.version, deploy: String, who: String, role: Role, now: Timestamp, speed: Double, label: String, judge: CanaryJudge?, bell: Bool? = true) {
            self.version = version; self.deploy = deploy; self.who = who; self.role = role; self.now = now
            self.speed = speed; self.label = label; self.judge = judge; self.bell = bell
        }
    }

    struct SnapshotLine: Codable { var type = "snapshot"; var state: DeployState }

    public enum ServerMessage: Sendable, Equatable {
        case welcome(Welcome)
        case snapshot(DeployState)
        case event(DeployEvent)
        case ack(id: Int)
        case refused(id: Int, reason: String)
        /// The answer to an `ingest` batch: how many events were recorded, and each refused line.
        case ingested(id: Int, accepted: Int, refused: [LineRefusal])
        /// The connection is refused or closed (bad hello, wrong token, the engine stops).
        case closing(reason: String)

        public var line: String {
            switch self {
            case let .welcome(w): return Wire.encode(w)
            case let .snapshot(s): return Wire.snapshotLine(s)
            case let .event(e): return ServerMessage.eventLine(e)
            case let .ack(id): return JSONValue.object([("type", .string("ack")), ("id", .number(Double(id)))]).serialized
            case let .refused(id, reason):
                return JSONValue.object([("type", .string("refused")), ("id", .number(Double(id))), ("reason", .string(reason))]).serialized
            case let .ingested(id, accepted, refused):
                return JSONValue.object([("type", .string("ingested")), ("id", .number(Double(id))), ("accepted", .number(Double(accepted))),
                                         ("refused", .array(refused.map { .object([("line", .number(Double($0.line))), ("reason", .string($0.reason))]) }))]).serialized
            case let .closing(reason): return JSONValue.object([("type", .string("closing")), ("reason", .string(reason))]).serialized
            }
        }

        /// An event as the server sends it: `{"type":"event","event":<the log line>}`.
        public static func eventLine(_ e: DeployEvent) -> String { "{\"type\":\"event\",\"event\":" + e.jsonLine + "}" }

        public static func decode(_ line: String) throws(WireError) -> ServerMessage {
            let v: JSONValue
            do { v = try JSONValue.parse(line) } catch { throw WireError("not JSON: \(error.description)") }
            guard let type = v["type"]?.stringValue else { throw WireError("missing \"type\"") }
            switch type {
            case "welcome":
                do { return .welcome(try Wire.decoder().decode(Welcome.self, from: Data(line.utf8))) } catch { throw WireError("bad welcome: \(error)") }
            case "snapshot":
                do {
                    var state = try Wire.decoder().decode(SnapshotLine.self, from: Data(line.utf8)).state
                    state.stepBlocks = try Wire.blocks(v["blocks"])
                    if case let .object(pairs)? = v["candidate_blocks"] {
                        guard pairs.count <= RolloutPlan.maxCandidates else { throw WireError("bad snapshot: blocks for more than \(RolloutPlan.maxCandidates) candidates") }
                        var cb: [String: [JudgeBlock]] = [:]
                        for (name, blocks) in pairs { cb[name] = try Wire.blocks(blocks) }
                        state.candidateBlocks = cb
                    }
                    return .snapshot(state)
                } catch { throw WireError("bad snapshot: \(error)") }
            case "event":
                guard let ev = v["event"] else { throw WireError("event: missing \"event\"") }
                do { return .event(try DeployEvent(json: ev)) } catch { throw WireError("bad event: \(error.description)") }
            case "ack":
                guard let id = v["id"]?.intValue else { throw WireError("ack: missing \"id\"") }
                return .ack(id: id)
            case "refused":
                guard let id = v["id"]?.intValue else { throw WireError("refused: missing \"id\"") }
                return .refused(id: id, reason: v["reason"]?.stringValue ?? "")
            case "ingested":
                guard let id = v["id"]?.intValue, let n = v["accepted"]?.intValue else { throw WireError("ingested: missing \"id\" or \"accepted\"") }
                let refused = (v["refused"]?.arrayValue ?? []).prefix(Wire.maxBatch).map {
                    LineRefusal(line: $0["line"]?.intValue ?? 0, reason: String(($0["reason"]?.stringValue ?? "").prefix(2000)))
                }
                return .ingested(id: id, accepted: n, refused: refused)
            case "closing":
                return .closing(reason: v["reason"]?.stringValue ?? "")
            default:
                throw WireError("unknown \"type\" \"\(TerminalText.neutralise(String(type.prefix(40))))\"")
            }
        }
    }

    /// The snapshot line: the judge's blocks (tens of thousands in a long step) written by
    /// hand as arrays of numbers, the rest of the state by `JSONEncoder`; Foundation's coders
    /// take about 6 µs a block each way, this about a tenth of that.
    static func snapshotLine(_ s: DeployState) -> String {
        var rest = s
        rest.stepBlocks = []
        rest.candidateBlocks = nil
        let state = encode(SnapshotLine(state: rest))
        let candidateCount = s.candidateBlocks?.values.reduce(0) { $0 + $1.count } ?? 0
        var out = "{\"type\":\"snapshot\",\"blocks\":"
        out.reserveCapacity(state.utf8.count + (s.stepBlocks.count + candidateCount) * 40 + 64)
        func add(_ blocks: [JudgeBlock]) {
            out += "["
            for (i, b) in blocks.enumerated() {
                if i > 0 { out += "," }
                out += "["
                out += b.at.map { JSONValue.format($0.seconds) } ?? "null"
                out += ",\(b.canaryRequests),\(b.canaryErrors),\(b.baseRequests),\(b.baseErrors),"
                out += b.canarySlow.map(String.init) ?? "null"
                out += ","
                out += b.baseSlow.map(String.init) ?? "null"
                out += "]"
            }
            out += "]"
        }
        add(s.stepBlocks)
        // Several candidates: each one's blocks the same way (JSONEncoder took ~6 µs a block).
        if let cb = s.candidateBlocks {
            out += ",\"candidate_blocks\":{"
            for (i, key) in cb.keys.sorted().enumerated() {
                if i > 0 { out += "," }
                out += JSONValue.string(key).serialized + ":"
                add(cb[key]!)
            }
            out += "}"
        }
        out += ",\"state\":"
        // `state` is {"type":"snapshot","state":{…}}: keep its inner object.
        if let r = state.range(of: "\"state\":") { out += state[r.upperBound...] } else { out += "{}}" }
        return out
    }

    static func blocks(_ v: JSONValue?) throws(WireError) -> [JudgeBlock] {
        guard let items = v?.arrayValue else { return [] }
        var out: [JudgeBlock] = []
        out.reserveCapacity(items.count)
        for item in items {
            guard let a = item.arrayValue, a.count == 7,
                  let cr = a[1].intValue, let ce = a[2].intValue, let br = a[3].intValue, let be = a[4].intValue,
                  cr >= 0, ce >= 0, br >= 0, be >= 0 else { throw WireError("bad snapshot: a judge block is not [at, 4 counts, 2 slow counts]") }
            out.append(JudgeBlock(at: a[0].doubleValue.map { Timestamp(seconds: $0) }, canaryRequests: cr, canaryErrors: ce,
                                  baseRequests: br, baseErrors: be, canarySlow: a[5].intValue, baseSlow: a[6].intValue))
        }
        return out
    }

    static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }

    static func encode<T: Encodable>(_ value: T) -> String {
        let enc = JSONEncoder()
        // Keys in order: the same state is always the same line (tests, diffs, seeds).
        enc.outputFormatting = [.sortedKeys]
        enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        guard let data = try? enc.encode(value) else { return "{\"type\":\"closing\",\"reason\":\"the server could not encode its state\"}" }
        return JSONValue.escapingControls(String(decoding: data, as: UTF8.self))
    }

    /// Compares two secrets in time that depends only on their lengths.
    public static func tokensMatch(_ given: String?, _ wanted: String) -> Bool {
        let a = Array((given ?? "").utf8), b = Array(wanted.utf8)
        var diff = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<b.count { diff |= (i < a.count ? a[i] : 0) ^ b[i] }
        return diff == 0 && !b.isEmpty
    }
}

/// One event of an `ingest` batch, with its line number in the CI's report.
public struct IngestItem: Sendable, Equatable {
    public var line: Int
    public var type: String
    public var data: JSONValue
    public init(line: Int, type: String, data: JSONValue) { self.line = line; self.type = type; self.data = data }
}

/// A line of an outside CI's report that was not recorded, and why.
public struct LineRefusal: Sendable, Equatable {
    public var line: Int
    public var reason: String
    public init(line: Int, reason: String) { self.line = line; self.reason = reason }
}

public struct WireError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// What an outside CI may report (`friday ingest`), checked against the deploy's state: its
/// own stages only, in order, each line on its own.
public enum IngestRules {
    public static let types = ["stage.started", "stage.output", "stage.finished"]

    public static func payload(type: String, data: JSONValue, in s: DeployState) throws(WireError) -> EventPayload {
        guard types.contains(type) else {
            throw WireError("\"\(TerminalText.neutralise(String(type.prefix(40))))\" cannot come from outside: an outside CI reports \(types.joined(separator: ", "))")
        }
        let p: EventPayload
        do { p = try EventPayload(type: type, data: data) } catch { throw WireError(error.description) }
        guard s.phase != .idle else { throw WireError("the deploy has not started yet") }
        guard case .pipeline = s.phase else { throw WireError("the pipeline is over (the deploy is \(s.isFinished ? "finished" : "rolling out"))") }
        func stage(_ name: String) throws(WireError) -> DeployState.Stage {
            guard let st = s.stages.first(where: { $0.name == name }) else {
                throw WireError("no stage \"\(TerminalText.neutralise(String(name.prefix(60))))\" in this deploy (its stages: \(s.stages.map(\.name).joined(separator: ", ")))")
            }
            return st
        }
        switch p {
        case let .stageStarted(name):
            let st = try stage(name)
            guard st.status == .pending else { throw WireError("stage \(name) already \(st.status.rawValue)") }
            if let running = s.runningStage { throw WireError("stage \(running.name) is still running") }
            return p
        case let .stageOutput(name, line):
            let st = try stage(name)
            guard st.status == .running else { throw WireError("stage \(name) is not running (\(st.status.rawValue))") }
            return .stageOutput(stage: name, line: String(line.prefix(16 * 1024)))
        case let .stageFinished(name, status, seconds):
            let st = try stage(name)
            guard st.status == .running else { throw WireError("stage \(name) is not running (\(st.status.rawValue))") }
            guard status != .pending, status != .running else { throw WireError("stage.finished needs a status of succeeded, failed or cancelled") }
            return .stageFinished(stage: name, status: status, seconds: seconds)
        default:
            throw WireError("\(type) cannot come from outside")
        }
    }
}
