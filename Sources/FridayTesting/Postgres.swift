import Foundation

/// A real PostgreSQL for a test: a new cluster in a temporary folder (initdb, trust for
/// local connections), started with pg_ctl on 127.0.0.1 and a free port, stopped and
/// removed by `destroy()`. As root, the server runs as the `postgres` user (PostgreSQL
/// refuses root). `scripts/test` installs PostgreSQL where it is missing.
public final class PostgresServer: Sendable {
    public let dir: String
    public let port: Int
    public var url: String { "postgres://friday@127.0.0.1:\(port)/postgres?sslmode=disable" }
    let bin: String

    /// The folder of PostgreSQL's programs (pg_ctl, initdb), or nil if none is installed.
    public static func binaries() -> String? {
        let fm = FileManager.default
        let versions = ((try? fm.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []).compactMap(Int.init).sorted()
        for v in versions.reversed() where fm.isExecutableFile(atPath: "/usr/lib/postgresql/\(v)/bin/pg_ctl") { return "/usr/lib/postgresql/\(v)/bin" }
        for d in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") where fm.isExecutableFile(atPath: "\(d)/pg_ctl") && fm.isExecutableFile(atPath: "\(d)/initdb") {
            return String(d)
        }
        return nil
    }

    public init() throws {
        guard let bin = PostgresServer.binaries() else { throw Failure("PostgreSQL is not installed (scripts/test installs the postgresql package)") }
        self.bin = bin
        dir = NSTemporaryDirectory() + "friday-pg-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        port = freePorts()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        if getuid() == 0 { _ = try PostgresServer.run("/bin/chown", ["postgres:postgres", dir]) }
        let r = try asServer("\(bin)/initdb", ["-D", "\(dir)/data", "-U", "friday", "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C"])
        guard r.status == 0 else { throw Failure("initdb failed: \(r.out)") }
        try start()
    }

    /// Starts (or starts again) the server on the same port and data.
    public func start() throws {
        let opts = "-p \(port) -k \(dir) -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        let r = try asServer("\(bin)/pg_ctl", ["-D", "\(dir)/data", "-l", "\(dir)/server.log", "-o", opts, "-w", "-t", "30", "start"])
        guard r.status == 0 else { throw Failure("pg_ctl start failed: \(r.out) \((try? String(contentsOfFile: dir + "/server.log", encoding: .utf8)) ?? "")") }
    }

    /// Stops it: `immediate` is as a crash (no checkpoint, connections cut).
    public func stop(immediate: Bool = false) throws {
        _ = try asServer("\(bin)/pg_ctl", ["-D", "\(dir)/data", "-m", immediate ? "immediate" : "fast", "-w", "stop"])
    }

    /// Runs SQL through psql, returning its unaligned output.
    public func psql(_ sql: String) throws -> String {
        let psql = FileManager.default.isExecutableFile(atPath: "\(bin)/psql") ? "\(bin)/psql" : "/usr/bin/psql"
        let r = try PostgresServer.run(psql, ["-h", "127.0.0.1", "-p", String(port), "-U", "friday", "-d", "postgres", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        guard r.status == 0 else { throw Failure("psql failed: \(r.out)") }
        return r.out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public func destroy() {
        try? stop(immediate: true)
        try? FileManager.default.removeItem(atPath: dir)
    }

    private func asServer(_ path: String, _ args: [String]) throws -> (status: Int32, out: String) {
        // setpriv execs the program as postgres (no parent left waiting, as runuser is).
        if getuid() == 0 { return try PostgresServer.run("/usr/bin/setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", path] + args) }
        return try PostgresServer.run(path, args)
    }

    /// Output to a file, not a pipe (the server pg_ctl starts would inherit a pipe and hold
    /// it open), through `spawnAndWait`, which gives the child a clean signal state.
    static func run(_ path: String, _ args: [String]) throws -> (status: Int32, out: String) {
        let outPath = NSTemporaryDirectory() + "friday-pg-out-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: outPath) }
        let status = spawnAndWait([path] + args, output: outPath)
        return (status, (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "")
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        init(_ d: String) { description = d }
    }
}
