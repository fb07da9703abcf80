import FridayCore
import Logging
import NIOCore
import NIOSSL
import PostgresNIO
import Synchronization

/// A shared history of deploys on PostgreSQL: every engine's events (copied from its durable
/// local log, which stays the source of truth), a row per deploy for boards, and deploy locks.
///
/// Idempotent by construction: an event is keyed by (deploy, seq) and written with
/// `ON CONFLICT DO NOTHING`, so a batch sent again after a lost reply is not written twice.
public final class Store: Sendable {
    public let address: StoreAddress
    let client: PostgresClient
    let connectionConfig: PostgresConnection.Configuration
    let tlsProblem: String?
    private let runner: Task<Void, Never>
    /// PostgresNIO's own log is not printed: what matters reaches the person as a StoreError.
    static let logger = Logger(label: "friday.store", factory: { _ in SwiftLogNoOpLogHandler() })
    /// How long one operation may take before it fails with "no answer" (the pool would
    /// otherwise retry a dead server for a minute).
    let timeout: Duration

    /// The schema this friday reads and writes.
    public static var schemaVersion: Int { migrations.last!.version }

    /// Opens a pool to `address` (connections are made when first used; none is checked here).
    public init(_ address: StoreAddress, connectTimeout: Duration = .seconds(5), timeout: Duration = .seconds(10)) {
        self.address = address
        self.timeout = timeout
        var config: PostgresClient.Configuration
        switch address.endpoint {
        case let .tcp(host, port):
            let tls: PostgresClient.Configuration.TLS
            switch address.tls {
            case .disable: tls = .disable
            case .prefer: tls = .prefer(.makeClientConfiguration())
            case .require: tls = .require(.makeClientConfiguration())
            }
            config = .init(host: host, port: port, username: address.user, password: address.password, database: address.database, tls: tls)
        case let .unix(path):
            config = .init(unixSocketPath: path, username: address.user, password: address.password, database: address.database)
        }
        config.options.connectTimeout = connectTimeout
        config.options.maximumConnections = 4
        var tlsProblem: String?
        var direct: PostgresConnection.Configuration
        switch address.endpoint {
        case let .tcp(host, port):
            var tls = PostgresConnection.Configuration.TLS.disable
            if address.tls != .disable {
                // A TLS context that cannot be made leaves a required TLS failing at connect, never plain.
                if let ctx = try? NIOSSLContext(configuration: .makeClientConfiguration()) {
                    tls = address.tls == .require ? .require(ctx) : .prefer(ctx)
                } else if address.tls == .require {
                    tlsProblem = "TLS is required (sslmode=require) but no TLS context could be made on this machine"
                }
            }
            direct = .init(host: host, port: port, username: address.user, password: address.password, database: address.database, tls: tls)
        case let .unix(path):
            direct = .init(unixSocketPath: path, username: address.user, password: address.password, database: address.database)
        }
        direct.options.connectTimeout = .init(connectTimeout)
        connectionConfig = direct
        self.tlsProblem = tlsProblem
        let client = PostgresClient(configuration: config, backgroundLogger: Store.logger)
        self.client = client
        runner = Task { await client.run() }
    }

    /// Closes the pool (queries under way fail).
    public func close() async {
        runner.cancel()
        _ = await runner.value
    }

    // MARK: schema

    /// Versioned migrations, applied in order by `friday store migrate`; never edited once shipped.
    static let migrations: [(version: Int, what: String, sql: [String])] = [
        (1, "events, deploys and deploy locks", [
            """
            CREATE TABLE friday_events (
                deploy text NOT NULL,
                seq bigint NOT NULL CHECK (seq >= 0),
                ts timestamptz NOT NULL,
                type text NOT NULL,
                line text NOT NULL,
                PRIMARY KEY (deploy, seq))
            """,
            """
            CREATE TABLE friday_deploys (
                deploy text PRIMARY KEY,
                service text NOT NULL,
                host text NOT NULL,
                from_version text NOT NULL,
                to_version text NOT NULL,
                state text NOT NULL,
                step int,
                steps int NOT NULL,
                split text NOT NULL,
                verdict text,
                watching text NOT NULL,
                started_at timestamptz,
                updated_at timestamptz NOT NULL,
                last_seq bigint NOT NULL)
            """,
            "CREATE INDEX friday_deploys_service ON friday_deploys (service)",
            """
            CREATE TABLE friday_locks (
                service text PRIMARY KEY,
                deploy text,
                holder text NOT NULL,
                host text NOT NULL,
                versions text NOT NULL,
                reason text,
                since timestamptz NOT NULL DEFAULT now(),
                heard_at timestamptz NOT NULL DEFAULT now())
            """,
            """
            CREATE TABLE friday_lock_log (
                id bigserial PRIMARY KEY,
                at timestamptz NOT NULL DEFAULT now(),
                service text NOT NULL,
                action text NOT NULL,
                who text NOT NULL,
                host text NOT NULL,
                reason text,
                held_by text)
            """,
        ]),
    ]

    /// One connection made directly, so that a store that refuses or is not there says so at
    /// once (the pool would retry it quietly for a minute).
    public func probe() async throws(StoreError) {
        let config = connectionConfig
        if let tlsProblem { throw StoreError("cannot connect to \(address.redacted): \(tlsProblem)") }
        try await run("connect") {
            let c = try await PostgresConnection.connect(configuration: config, id: 0, logger: Store.logger)
            try await c.close()
        }
    }

    /// The schema version the store has (0: never migrated).
    public func version() async throws(StoreError) -> Int {
        try await probe()
        return try await run("read the schema version") { [client] in
            let rows = try await client.query("SELECT to_regclass('friday_schema') IS NOT NULL", logger: Store.logger)
            var exists = false
            for try await (e) in rows.decode(Bool.self) { exists = e }
            guard exists else { return 0 }
            var v = 0
            for try await (x) in try await client.query("SELECT coalesce(max(version), 0) FROM friday_schema", logger: Store.logger).decode(Int.self) { v = x }
            return v
        }
    }

    /// Applies the migrations the store lacks, each in its own transaction, one migrator at a
    /// time (an advisory lock); returns those applied.
    public func migrate() async throws(StoreError) -> [(version: Int, what: String)] {
        try await run("migrate the schema") { [client] in
            try await client.withTransaction(logger: Store.logger) { conn in
                try await conn.query("SELECT pg_advisory_xact_lock(7291001)", logger: Store.logger)
                try await conn.query("CREATE TABLE IF NOT EXISTS friday_schema (version int PRIMARY KEY, what text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())", logger: Store.logger)
                var have = 0
                for try await (x) in try await conn.query("SELECT coalesce(max(version), 0) FROM friday_schema", logger: Store.logger).decode(Int.self) { have = x }
                var applied: [(version: Int, what: String)] = []
                for m in Store.migrations where m.version > have {
                    for sql in m.sql { try await conn.query(PostgresQuery(unsafeSQL: sql), logger: Store.logger) }
                    try await conn.query("INSERT INTO friday_schema (version, what) VALUES (\(m.version), \(m.what))", logger: Store.logger)
                    applied.append((m.version, m.what))
                }
                return applied
            }
        }
    }

    /// Refuses to go on against a store whose schema is not this friday's.
    public func checkSchema() async throws(StoreError) {
        let v = try await version()
        if v < Store.schemaVersion {
            throw StoreError("the store \(address.redacted) has schema version \(v), this friday needs \(Store.schemaVersion): run friday store migrate --store URL")
        }
        if v > Store.schemaVersion {
            throw StoreError("the store \(address.redacted) has schema version \(v), newer than this friday's \(Store.schemaVersion): upgrade friday")
        }
    }

    // MARK: events

    /// The highest seq stored for `deploy` (-1: none).
    public func storedUpTo(_ deploy: String) async throws(StoreError) -> Int {
        try await run("read how far \(deploy) is stored") { [client] in
            var v = -1
            for try await (x) in try await client.query("SELECT coalesce(max(seq), -1) FROM friday_events WHERE deploy = \(deploy)", logger: Store.logger).decode(Int.self) { v = x }
            return v
        }
    }

    /// Writes events (with their exact log lines) and the deploy's row in one transaction,
    /// then notifies boards (`friday_events`, the deploy id) when it commits.
    public func append(_ batch: [(event: DeployEvent, line: String)], summary: DeploySummary) async throws(StoreError) {
        guard !batch.isEmpty else { return }
        let deploys = batch.map(\.event.deploy), seqs = batch.map(\.event.seq), ts = batch.map(\.event.ts.rfc3339)
        let types = batch.map(\.event.payload.type), lines = batch.map(\.line)
        try await run("write \(batch.count) event(s) of \(summary.deploy)") { [client] in
            try await client.withTransaction(logger: Store.logger) { conn in
                try await conn.query("""
                    INSERT INTO friday_events (deploy, seq, ts, type, line)
                    SELECT * FROM unnest(\(deploys)::text[], \(seqs)::bigint[], \(ts)::timestamptz[], \(types)::text[], \(lines)::text[])
                    ON CONFLICT (deploy, seq) DO NOTHING
                    """, logger: Store.logger)
                try await conn.query("""
                    INSERT INTO friday_deploys (deploy, service, host, from_version, to_version, state, step, steps, split, verdict, watching, started_at, updated_at, last_seq)
                    VALUES (\(summary.deploy), \(summary.service), \(summary.host), \(summary.from), \(summary.to), \(summary.state), \(summary.step), \(summary.steps),
                            \(summary.split), \(summary.verdict), \(summary.watching), \(summary.startedAt?.rfc3339)::timestamptz, \(summary.updatedAt.rfc3339)::timestamptz, \(summary.lastSeq))
                    ON CONFLICT (deploy) DO UPDATE SET service = excluded.service, host = excluded.host, from_version = excluded.from_version,
                        to_version = excluded.to_version, state = excluded.state, step = excluded.step, steps = excluded.steps, split = excluded.split,
                        verdict = excluded.verdict, watching = excluded.watching, started_at = excluded.started_at, updated_at = excluded.updated_at,
                        last_seq = excluded.last_seq
                    WHERE friday_deploys.last_seq <= excluded.last_seq
                    """, logger: Store.logger)
                try await conn.query("UPDATE friday_locks SET heard_at = now() WHERE deploy = \(summary.deploy)", logger: Store.logger)
                try await conn.query("SELECT pg_notify('friday_events', \(summary.deploy))", logger: Store.logger)
            }
        }
    }

    /// Follows the `friday_events` notifications (one per committed batch, carrying its
    /// deploy id) on a connection of its own, until cancelled: `listening` once the LISTEN is
    /// in place, `heard` for each. Connecting is bounded by the deadline; listening is not.
    public func listen(listening: @escaping @Sendable () -> Void = {}, heard: @escaping @Sendable (String) -> Void) async throws(StoreError) {
        if let tlsProblem { throw StoreError("cannot connect to \(address.redacted): \(tlsProblem)") }
        let config = connectionConfig
        let c = try await run("connect") { try await PostgresConnection.connect(configuration: config, id: 1, logger: Store.logger) }
        do {
            try await c.listen(on: "friday_events") { notes in
                listening()
                for try await n in notes { heard(n.payload) }
            }
        } catch {
            try? await c.close()
            if Task.isCancelled { return }
            throw StoreError("lost the notifications of \(address.redacted): \(Store.describe(error))")
        }
        try? await c.close()
    }

    /// Every stored line of `deploy` after seq `after`, in seq order (empty: the store has no such deploy, or nothing newer).
    public func lines(of deploy: String, after: Int = -1) async throws(StoreError) -> [(seq: Int, line: String)] {
        try await run("read \(deploy)") { [client] in
            var out: [(seq: Int, line: String)] = []
            for try await (s, l) in try await client.query("SELECT seq, line FROM friday_events WHERE deploy = \(deploy) AND seq > \(after) ORDER BY seq", logger: Store.logger).decode((Int, String).self) {
                out.append((s, l))
            }
            return out
        }
    }

    /// Every stored deploy's id.
    public func deployIDs() async throws(StoreError) -> [String] {
        try await run("list deploys") { [client] in
            var out: [String] = []
            for try await (d) in try await client.query("SELECT DISTINCT deploy FROM friday_events ORDER BY deploy", logger: Store.logger).decode(String.self) { out.append(d) }
            return out
        }
    }

    /// The deploys' rows (or one deploy's), for a board.
    public func summaries(deploy only: String? = nil) async throws(StoreError) -> [DeploySummary] {
        try await run("list deploys") { [client] in
            var out: [DeploySummary] = []
            let q: PostgresQuery = """
                SELECT deploy, service, host, from_version, to_version, state, step, steps, split, verdict, watching,
                       to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                       to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), last_seq
                FROM friday_deploys WHERE \(only == nil) OR deploy = \(only ?? "") ORDER BY deploy
                """
            for try await row in try await client.query(q, logger: Store.logger) {
                let (d, s, h, f, t, st, step, steps, split, v, w, started, updated, last) =
                    try row.decode((String, String, String, String, String, String, Int?, Int, String, String?, String, String?, String, Int).self)
                out.append(DeploySummary(deploy: d, service: s, host: h, from: f, to: t, state: st, step: step, steps: steps, split: split, verdict: v,
                                         watching: w, startedAt: started.flatMap { Timestamp(rfc3339: $0) },
                                         updatedAt: Timestamp(rfc3339: updated) ?? Timestamp(seconds: 0), lastSeq: last))
            }
            return out
        }
    }

    // MARK: plumbing

    /// Runs a store operation; any failure becomes a `StoreError` saying what was being done,
    /// where, and PostgreSQL's own message (never the password).
    func run<T: Sendable>(_ what: String, _ body: @escaping @Sendable () async throws -> T) async throws(StoreError) -> T {
        let limit = timeout
        let result = await withDeadline(limit) { () async -> Result<T, any Error> in
            do { return .success(try await body()) } catch { return .failure(error) }
        } ?? .failure(StoreError("no answer within \(limit.components.seconds) s"))
        switch result {
        case let .success(v): return v
        case let .failure(e as StoreError) where e.message.hasPrefix("no answer within"):
            throw StoreError("cannot \(what) \(what == "connect" ? "to" : "on") \(address.redacted): \(e.message)")
        case let .failure(e as StoreError): throw e
        case let .failure(e): throw StoreError("cannot \(what) \(what == "connect" ? "to" : "on") \(address.redacted): \(Store.describe(e))")
        }
    }

    static func describe(_ error: any Error) -> String {
        if let p = error as? PSQLError {
            if let m = p.serverInfo?[.message] { return m }
            switch p.code {
            case .connectionError, .uncleanShutdown, .serverClosedConnection, .clientClosedConnection:
                let why = p.underlying.map { "\($0)" } ?? ""
                for known in ["Connection refused", "No such file or directory", "Connection reset by peer", "Network is unreachable", "timed out"] where why.contains(known) {
                    return known.prefix(1).lowercased() + known.dropFirst()
                }
                return "the connection failed or was closed"
            default: return "\(p.code)\(p.underlying.map { ": \($0)" } ?? "")"
            }
        }
        return "\(error)"
    }
}

/// What went wrong with the store, in a sentence for a person.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A deploy's row in the store, for boards: what it ships, where it is, who watches.
public struct DeploySummary: Sendable, Equatable {
    public var deploy: String
    public var service: String
    public var host: String
    public var from: String
    public var to: String
    /// pipeline, rolling, paused, reverting, promoted, reverted, failed, idle
    public var state: String
    /// 1-based, nil before any step.
    public var step: Int?
    public var steps: Int
    /// `v2.3.0 75 · v2.4.0 25`: the weights last read back from the router.
    public var split: String
    public var verdict: String?
    public var watching: String
    public var startedAt: Timestamp?
    public var updatedAt: Timestamp
    public var lastSeq: Int

    public init(deploy: String, service: String, host: String, from: String, to: String, state: String, step: Int?, steps: Int, split: String,
                verdict: String?, watching: String, startedAt: Timestamp?, updatedAt: Timestamp, lastSeq: Int) {
        self.deploy = deploy; self.service = service; self.host = host; self.from = from; self.to = to; self.state = state; self.step = step
        self.steps = steps; self.split = split; self.verdict = verdict; self.watching = watching; self.startedAt = startedAt
        self.updatedAt = updatedAt; self.lastSeq = lastSeq
    }

    /// The row a folded state gives.
    public init(_ s: DeployState, host: String) {
        let state: String
        switch s.phase {
        case .idle: state = "idle"
        case .pipeline: state = "pipeline"
        case .rolling: state = s.isReverting ? "reverting" : s.paused != nil ? "paused" : "rolling"
        case let .finished(o): state = o.rawValue
        }
        // Several candidates: every one in `to`, a line each (each name neutralised first, so a
        // name read from a hostile log line cannot hold the separator).
        self.init(deploy: s.deployID, service: s.service, host: host, from: s.from.name,
                  to: s.isMultiway ? s.candidates.map { TerminalText.neutralise($0.name) }.joined(separator: "\n") : s.to.name, state: state,
                  step: s.stepIndex.map { $0 + 1 }, steps: s.plan.steps.count,
                  split: s.observed.map { "\($0.version) \($0.percent)" }.joined(separator: " · "),
                  verdict: s.judgement?.verdict.rawValue, watching: s.watchers.map(\.who).joined(separator: ", "),
                  startedAt: s.startedAt, updatedAt: s.lastEventAt ?? Timestamp(seconds: 0), lastSeq: s.lastSeq)
    }
}

extension DeployState {
    /// The state a board can draw from a deploy's row in the store (no event history: the
    /// row holds what a board shows, kept up to date by each batch in its transaction).
    public init(summary r: DeploySummary) {
        self.init()
        deployID = r.deploy
        service = r.service
        from = VersionRef(name: r.from, commit: "")
        let names = r.to.split(separator: "\n").map(String.init)
        to = VersionRef(name: names.first ?? r.to, commit: "")
        let more = names.dropFirst().prefix(RolloutPlan.maxCandidates - 1).map { VersionRef(name: $0, commit: "") }
        plan = RolloutPlan(steps: Array(repeating: RolloutStep(weight: 0, pause: .seconds(0)), count: max(0, min(r.steps, 1000))),
                           moreCandidates: more.isEmpty ? nil : Array(more))
        startedAt = r.startedAt
        lastEventAt = r.updatedAt
        lastSeq = r.lastSeq
        switch r.state {
        case "promoted": phase = .finished(.promoted)
        case "reverted": phase = .finished(.reverted)
        case "failed": phase = .finished(.failed)
        case "pipeline": phase = .pipeline
        case "idle": phase = .idle
        default: phase = .rolling
        }
        if r.state == "paused" { paused = Pause(by: "", reason: "", at: r.updatedAt, remaining: nil) }
        if let step = r.step, step >= 1, step <= plan.steps.count { stepIndex = step - 1 }
        // "v2.3.0 75 · v2.4.0 25": the weights read back from the router.
        observed = r.split.components(separatedBy: " · ").compactMap { part in
            let bits = part.split(separator: " ")
            guard bits.count == 2, let p = Int(bits[1]), (0...100).contains(p) else { return nil }
            return VersionWeight(version: String(bits[0]), percent: p)
        }
        if let v = r.verdict.flatMap(Verdict.init(rawValue:)) {
            judgement = Judgement(step: stepIndex ?? 0, verdict: v, summary: "", figures: [], at: r.updatedAt)
        }
        watchers = r.watching.components(separatedBy: ", ").filter { !$0.isEmpty }.map { Watcher(who: $0, role: "") }
    }
}
