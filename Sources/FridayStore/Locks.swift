import FridayCore
import PostgresNIO

/// Who holds a service's deploy lock.
public struct DeployLock: Sendable, Equatable {
    public var service: String
    /// The deploy holding it; nil for a lock taken by hand (`friday lock`).
    public var deploy: String?
    public var holder: String
    public var host: String
    public var versions: String
    public var reason: String?
    public var since: Timestamp
    /// When its engine last said it was alive (the outbox refreshes it with every write).
    public var heardAt: Timestamp

    /// "checkout is locked by lee on build-7 since 2026-11-27 16:00:03 UTC for v2.3.0 → v2.4.0 (deploy checkout-v2.4.0)"
    public var sentence: String {
        // Every field came from the store (typed by someone, anywhere): one line, neutralised.
        let n = TerminalText.neutralise
        let what = deploy.map { "for \(n(versions)) (deploy \(n($0)))" } ?? "by hand\(reason.map { ": \(n($0))" } ?? "")"
        return "\(n(service)) is locked by \(n(holder)) on \(n(host)) since \(Self.clock(since)) \(what)"
    }

    static func clock(_ t: Timestamp) -> String { "\(t.utcDate) \(t.clockText) UTC" }
}

extension Store {
    /// Takes `service`'s lock for `deploy` (taken again by the same deploy, as after a restart);
    /// nil when it is ours, else who holds it.
    public func lock(service: String, deploy: String?, holder: String, host: String, versions: String, reason: String?) async throws(StoreError) -> DeployLock? {
        try await run("take the deploy lock of \(service)") { [client] in
            try await client.withTransaction(logger: Store.logger) { conn in
                let taken = try await conn.query("""
                    INSERT INTO friday_locks (service, deploy, holder, host, versions, reason) VALUES (\(service), \(deploy), \(holder), \(host), \(versions), \(reason))
                    ON CONFLICT (service) DO UPDATE SET heard_at = now()
                    WHERE friday_locks.deploy IS NOT NULL AND friday_locks.deploy = excluded.deploy
                    RETURNING service
                    """, logger: Store.logger).collect()
                if !taken.isEmpty {
                    try await conn.query("""
                        INSERT INTO friday_lock_log (service, action, who, host, reason, held_by) VALUES (\(service), 'lock', \(holder), \(host), \(reason), \(deploy))
                        """, logger: Store.logger)
                    return nil
                }
                return try await Store.holder(of: service, on: conn)
            }
        }
    }

    /// Who holds `service`'s lock, if anyone.
    public func lockHolder(_ service: String) async throws(StoreError) -> DeployLock? {
        try await run("read the deploy lock of \(service)") { [client] in
            try await client.withConnection { conn in try await Store.holder(of: service, on: conn) }
        }
    }

    /// Every lock held now, by service.
    public func locks() async throws(StoreError) -> [DeployLock] {
        try await run("list the deploy locks") { [client] in
            try await client.withConnection { conn in
                var out: [DeployLock] = []
                for try await row in try await conn.query(PostgresQuery(unsafeSQL: Store.lockSelect + " ORDER BY service"), logger: Store.logger) { out.append(try Store.lock(from: row)) }
                return out
            }
        }
    }

    /// Releases `service`'s lock: only `deploy`'s when a deploy is given (its end), any when
    /// nil (`friday unlock`, with a reason, logged). Returns what was released.
    @discardableResult
    public func unlock(service: String, deploy: String?, who: String, host: String, reason: String) async throws(StoreError) -> DeployLock? {
        try await run("release the deploy lock of \(service)") { [client] in
            try await client.withTransaction(logger: Store.logger) { conn in
                // One statement: a lock taken by someone else meanwhile is never the one deleted.
                var q = PostgresQuery(unsafeSQL: """
                    DELETE FROM friday_locks WHERE service = $1 AND ($2::text IS NULL OR deploy = $2)
                    RETURNING service, deploy, holder, host, versions, reason,
                              to_char(since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), to_char(heard_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
                    """)
                q.binds.append(service, context: .default)
                q.binds.append(deploy, context: .default)
                var released: DeployLock?
                for try await row in try await conn.query(q, logger: Store.logger) { released = try Store.lock(from: row) }
                guard let held = released else { return nil }
                try await conn.query("""
                    INSERT INTO friday_lock_log (service, action, who, host, reason, held_by) VALUES (\(service), 'unlock', \(who), \(host), \(reason), \(held.deploy ?? held.holder))
                    """, logger: Store.logger)
                return held
            }
        }
    }

    /// Marks `deploy`'s lock as heard from now.
    func heard(service: String, deploy: String, on conn: PostgresConnection) async throws {
        try await conn.query("UPDATE friday_locks SET heard_at = now() WHERE service = \(service) AND deploy = \(deploy)", logger: Store.logger)
    }

    static let lockSelect = """
        SELECT service, deploy, holder, host, versions, reason,
               to_char(since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), to_char(heard_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
        FROM friday_locks
        """

    static func holder(of service: String, on conn: PostgresConnection) async throws -> DeployLock? {
        var q = PostgresQuery(unsafeSQL: lockSelect + " WHERE service = $1")
        q.binds.append(service, context: .default)
        for try await row in try await conn.query(q, logger: Store.logger) { return try lock(from: row) }
        return nil
    }

    static func lock(from row: PostgresRow) throws -> DeployLock {
        let (s, d, h, host, v, r, since, heard) = try row.decode((String, String?, String, String, String, String?, String, String).self)
        return DeployLock(service: s, deploy: d, holder: h, host: host, versions: v, reason: r,
                          since: Timestamp(rfc3339: since) ?? Timestamp(seconds: 0), heardAt: Timestamp(rfc3339: heard) ?? Timestamp(seconds: 0))
    }
}
