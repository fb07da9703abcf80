/// One version's recent per-window samples, newest last, about ten minutes of them.
public struct MetricWindow: Sendable, Equatable, Codable {
    public struct Point: Sendable, Equatable, Codable {
        public var at: Timestamp
        public var requests: Int
        public var errors: Int
        public var p50: Double
        public var p99: Double
    }

    public static let kept = 600
    public private(set) var points: [Point] = []
    public private(set) var totalRequests: Int = 0
    public private(set) var totalErrors: Int = 0

    public init() {}

    public mutating func add(_ s: MetricsSample, at ts: Timestamp) {
        points.appendBounded(Point(at: ts, requests: s.requests, errors: s.errors, p50: s.p50, p99: s.p99), limit: MetricWindow.kept)
        totalRequests += s.requests
        totalErrors += s.errors
    }

    /// Requests and errors in the `seconds` before `now` (and since `since`, if given).
    public func counts(lastSeconds seconds: Double, now: Timestamp, since: Timestamp? = nil) -> (requests: Int, errors: Int) {
        var r = 0, e = 0
        let from = max(now.seconds - seconds, since?.seconds ?? -Double.infinity)
        for p in points.reversed() {
            if p.at.seconds <= from { break }
            r += p.requests; e += p.errors
        }
        return (r, e)
    }

    /// Error rate (0...1) over the last `seconds`, nil without requests.
    public func errorRate(lastSeconds seconds: Double, now: Timestamp, since: Timestamp? = nil) -> Double? {
        let c = counts(lastSeconds: seconds, now: now, since: since)
        return c.requests > 0 ? Double(c.errors) / Double(c.requests) : nil
    }

    /// Request-weighted p99 over the last `seconds` (the worst-case is closer to max; this is
    /// the simple mean that a dashboard shows), nil without requests.
    public func p99(lastSeconds seconds: Double, now: Timestamp, since: Timestamp? = nil) -> Double? {
        var sum = 0.0, n = 0
        let from = max(now.seconds - seconds, since?.seconds ?? -Double.infinity)
        for p in points.reversed() {
            if p.at.seconds <= from { break }
            if p.requests > 0 { sum += p.p99 * Double(p.requests); n += p.requests }
        }
        return n > 0 ? sum / Double(n) : nil
    }

    public var latest: Point? { points.last }

    /// `count` buckets of `bucketSeconds` ending at `now`: error rate per bucket (nil where no requests).
    public func errorRateSeries(buckets count: Int, bucketSeconds: Double, now: Timestamp) -> [Double?] {
        series(buckets: count, bucketSeconds: bucketSeconds, now: now) { r, e, _ in r > 0 ? Double(e) / Double(r) : nil }
    }

    /// `count` buckets of `bucketSeconds` ending at `now`: request-weighted p99 per bucket.
    public func p99Series(buckets count: Int, bucketSeconds: Double, now: Timestamp) -> [Double?] {
        series(buckets: count, bucketSeconds: bucketSeconds, now: now) { r, _, lat in r > 0 ? lat / Double(r) : nil }
    }

    private func series(buckets count: Int, bucketSeconds: Double, now: Timestamp, _ f: (Int, Int, Double) -> Double?) -> [Double?] {
        guard count > 0 else { return [] }
        var req = [Int](repeating: 0, count: count)
        var err = [Int](repeating: 0, count: count)
        var lat = [Double](repeating: 0, count: count)
        let start = now.seconds - Double(count) * bucketSeconds
        for p in points.reversed() {
            if p.at.seconds <= start { break }
            let b = min(count - 1, max(0, Int((p.at.seconds - start - 1e-9) / bucketSeconds)))
            req[b] += p.requests; err[b] += p.errors; lat[b] += p.p99 * Double(p.requests)
        }
        return (0..<count).map { f(req[$0], err[$0], lat[$0]) }
    }
}
