import FridayCore
import FridayEngine

/// Requests, 5xx and response time per version from HAProxy's `show stat`, as differences
/// between one sample and the next, summed over the instances.
///
/// HAProxy keeps no percentiles: `rtime` (average response time of the last 1024
/// requests, ms) stands in for both p50 and p99, so the latency check compares averages.
public final class HAProxyStats: MetricsSource, @unchecked Sendable {
    let router: HAProxyRouter
    private let lock = Lock()
    private var previous: [String: (requests: Int, errors: Int)] = [:]

    public init(router: HAProxyRouter) { self.router = router }

    public func sample(at time: Timestamp, state: DeployState) async throws -> [MetricsSample] {
        var totals: [String: (requests: Int, errors: Int, rtime: Double, n: Int)] = [:]
        for inst in router.instances {
            let rows = try inst.stats()
            for (version, server) in router.servers {
                guard let row = rows.first(where: { $0["pxname"] == router.backend && $0["svname"] == server }) else {
                    throw RouterError("\(inst.address): show stat has no \(router.backend)/\(server) (\(version))")
                }
                var t = totals[version] ?? (0, 0, 0, 0)
                t.requests += Int(row["req_tot"] ?? "") ?? Int(row["stot"] ?? "") ?? 0
                t.errors += Int(row["hrsp_5xx"] ?? "") ?? 0
                if let r = Double(row["rtime"] ?? "") { t.rtime += r; t.n += 1 }
                totals[version] = t
            }
        }
        return lock.withLock {
            var out: [MetricsSample] = []
            for (version, t) in totals.sorted(by: { $0.key < $1.key }) {
                let prev = previous[version]
                previous[version] = (t.requests, t.errors)
                guard let prev else { continue } // the first sample only sets the baseline
                // Counters go back to zero when HAProxy restarts: count from zero then.
                let dr = t.requests >= prev.requests ? t.requests - prev.requests : t.requests
                let de = t.errors >= prev.errors ? t.errors - prev.errors : t.errors
                let rt = t.n > 0 ? t.rtime / Double(t.n) : 0
                out.append(MetricsSample(version: version, requests: dr, errors: min(de, dr), p50: rt, p99: rt, window: 1))
            }
            return out
        }
    }
}
