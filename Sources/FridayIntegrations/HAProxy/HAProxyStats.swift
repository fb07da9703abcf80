import FridayCore
import FridayEngine

/// Requests, 5xx and response time per version from HAProxy's `show stat`, as differences
/// between one sample and the next, summed over the instances.
///
/// HAProxy keeps no percentiles: `rtime` (average response time of the last 1024
/// requests, ms) stands in for both p50 and p99, so the latency check compares averages.
public final class HAProxyStats: MetricsSource, @unchecked Sendable {
    public let router: HAProxyRouter
    private let lock = Lock()
    /// Counters last seen, per instance and version: each instance has its own baseline, so
    /// one restarted instance (counters back near 0) restarts only its own.
    private var previous: [String: (requests: Int, errors: Int)] = [:]

    public init(router: HAProxyRouter) { self.router = router }

    public var providerName: String { "haproxy-stats" }

    public func sample(at time: Timestamp, state: DeployState) async throws -> [MetricsSample] {
        var rowsByInstance: [(String, [[String: String]])] = []
        for inst in router.instances { rowsByInstance.append((inst.address, try await inst.stats())) }
        return try fold(rowsByInstance)
    }

    /// Samples from one `show stat` per instance, against the counters seen last time.
    public func fold(_ rowsByInstance: [(String, [[String: String]])]) throws -> [MetricsSample] {
        try lock.withLock { () throws(RouterError) -> [MetricsSample] in
            var totals: [String: (requests: Int, errors: Int, rtime: Double, n: Int, counted: Bool)] = [:]
            for (address, rows) in rowsByInstance {
                for (version, server) in router.servers.sorted(by: { $0.key < $1.key }) {
                    guard let row = rows.first(where: { $0["pxname"] == router.backend && $0["svname"] == server }) else {
                        throw RouterError("\(address): show stat has no \(router.backend)/\(server) (\(version))")
                    }
                    guard let req = Int(row["req_tot"] ?? "") ?? Int(row["stot"] ?? ""), let err = Int(row["hrsp_5xx"] ?? ""),
                          req >= 0, err >= 0 else {
                        throw RouterError("\(address): show stat gives no whole req_tot/hrsp_5xx for \(router.backend)/\(server)")
                    }
                    let key = address + "\u{0}" + version
                    var t = totals[version] ?? (0, 0, 0, 0, false)
                    if let prev = previous[key] {
                        // Counters that went down: that instance restarted; count from its zero.
                        let dr = req >= prev.requests ? req - prev.requests : req
                        let de = err >= prev.errors ? err - prev.errors : err
                        t.requests += dr
                        t.errors += min(de, dr)
                        t.counted = true
                    }
                    previous[key] = (req, err)
                    if let r = Double(row["rtime"] ?? ""), r.isFinite, r >= 0 { t.rtime += r; t.n += 1 }
                    totals[version] = t
                }
            }
            var out: [MetricsSample] = []
            for (version, t) in totals.sorted(by: { $0.key < $1.key }) where t.counted {
                // HAProxy keeps no percentiles: rtime is a mean over the last 1024 requests.
                let rt = t.n > 0 ? t.rtime / Double(t.n) : 0
                out.append(MetricsSample(version: version, requests: t.requests, errors: min(t.errors, t.requests), p50: rt, p99: rt, window: 1, latencyIsMean: true))
            }
            return out
        }
    }
}
