import Foundation
import Synchronization
import FridayCore
import FridayEngine

/// Requests, errors and latency per version from Prometheus: PromQL templates from the
/// deploy file, with `{version}` and `{server}` replaced, queried over the HTTP API.
///
/// Promises: an empty result, `NaN`, an HTTP error or a timeout is an error that names
/// the query (the engine shows it and the judge gets no sample), never zero errors.
public final class PrometheusMetrics: MetricsSource, @unchecked Sendable {
    public let url: String
    /// PromQL giving requests per second of one version.
    public let requestRate: String
    /// PromQL giving errors (5xx) per second of one version.
    public let errorRate: String
    /// PromQL giving a latency in seconds (p99 where the data has it); nil to leave latency out.
    public let latency: String?
    /// PromQL giving requests per second slower than the latency threshold (from a
    /// histogram: all buckets minus the `le` bucket at the threshold); nil to count none.
    public var slowRate: String?
    /// Version → the name used for `{server}` (the HAProxy server, a pod label …).
    public let servers: [String: String]
    public let timeoutSeconds: Double

    public init(url: String, requestRate: String, errorRate: String, latency: String?, servers: [String: String], timeoutSeconds: Double = 2,
                slowRate: String? = nil) {
        self.url = url; self.requestRate = requestRate; self.errorRate = errorRate; self.latency = latency; self.slowRate = slowRate
        self.servers = servers; self.timeoutSeconds = timeoutSeconds
    }

    public var providerName: String { "prometheus" }

    /// Fractions of a request or an error carried from one sample to the next, per version,
    /// so 0.3 errors/s becomes an error about every 3.3 s instead of being rounded to none.
    private let carry = Mutex<[String: (requests: Double, errors: Double, slow: Double)]>([:])

    public func sample(at time: Timestamp, state: DeployState) async throws -> [MetricsSample] {
        let versions = state.observed.filter { $0.percent > 0 }.map(\.version)
        let figures = try await Blocking.run { flag in
            var out: [(String, Double, Double, Double, Double?)] = []
            for v in versions {
                let rps = try self.query(self.requestRate, version: v, cancel: flag)
                let eps = try self.query(self.errorRate, version: v, cancel: flag)
                let lat = try self.latency.map { try self.query($0, version: v, cancel: flag) } ?? 0
                let sps = try self.slowRate.map { try self.query($0, version: v, cancel: flag) }
                for (what, x, range) in [("requests/s", rps, InputRange.ratePerSecond), ("errors/s", eps, InputRange.ratePerSecond),
                                         ("latency (s)", lat, 0...3600), ("slow requests/s", sps ?? 0, InputRange.ratePerSecond)] where !range.contains(x) {
                    throw RouterError("prometheus: \(what) for \(v) is \(x): outside \(range.lowerBound)–\(range.upperBound), not used")
                }
                out.append((v, rps, eps, lat, sps))
            }
            return out
        }
        return carry.withLock { carry in
            figures.map { v, rps, eps, lat, sps in
                var c = carry[v] ?? (0, 0, 0)
                c.requests += rps
                c.errors += min(eps, rps)
                c.slow += min(sps ?? 0, rps)
                let requests = SafeNumber.int((c.requests + 1e-9).rounded(.down))
                let errors = min(requests, SafeNumber.int((c.errors + 1e-9).rounded(.down)))
                let slow = min(requests, SafeNumber.int((c.slow + 1e-9).rounded(.down)))
                c.requests -= Double(requests)
                c.errors -= Double(errors)
                c.slow -= Double(slow)
                carry[v] = c
                let ms = (lat * 1000 * 1000).rounded() / 1000
                return MetricsSample(version: v, requests: requests, errors: errors, p50: ms, p99: ms, window: 1, slow: sps == nil ? nil : slow)
            }
        }
    }

    /// The version's requests per second and error rate averaged over the last hour (what
    /// Prometheus holds of it, sampled every 15 s), for `friday check`'s forecast: before a
    /// deploy the old version takes all the traffic.
    public func lastHour(version: String) throws(RouterError) -> (requestsPerSecond: Double, errorRate: Double) {
        let rps = try query("avg_over_time((\(requestRate))[1h:15s])", version: version)
        let eps = try query("avg_over_time((\(errorRate))[1h:15s])", version: version)
        guard InputRange.ratePerSecond.contains(rps), InputRange.ratePerSecond.contains(eps) else {
            throw RouterError("prometheus: the last hour's rates for \(version) (\(rps) requests/s, \(eps) errors/s) are outside 0–\(InputRange.ratePerSecond.upperBound)")
        }
        return (rps, rps > 0 ? min(0.5, eps / rps) : 0)
    }

    /// Runs one instant query; the single value of its result.
    public func query(_ template: String, version: String, cancel: CancelFlag? = nil) throws(RouterError) -> Double {
        let q = template.replacingOccurrences(of: "{version}", with: version)
            .replacingOccurrences(of: "{server}", with: servers[version] ?? version)
        let body = try get("/api/v1/query?query=" + percentEncode(q), cancel: cancel)
        return try PrometheusMetrics.value(fromAnswer: body, query: q, url: url)
    }

    /// The single finite value of an instant query's answer (`/api/v1/query`), or why not.
    public static func value(fromAnswer body: String, query q: String, url: String) throws(RouterError) -> Double {
        let json: JSONValue
        do { json = try JSONValue.parse(body) } catch { throw RouterError("prometheus \(url): not JSON (\(error.description)) for \(q)") }
        guard json["status"]?.stringValue == "success" else {
            throw RouterError("prometheus \(url): \(json["error"]?.stringValue ?? "query failed") for \(q)")
        }
        guard let result = json["data"]?["result"]?.arrayValue else { throw RouterError("prometheus \(url): no data.result for \(q)") }
        if json["data"]?["resultType"]?.stringValue == "scalar" {
            guard let text = result.last?.stringValue, let v = Double(text), v.isFinite else {
                throw RouterError("prometheus: \(q) is \(result.last?.stringValue ?? "empty"): not a number, not taken as zero")
            }
            return v
        }
        guard let first = result.first else {
            throw RouterError("prometheus: \(q) returned no series (no traffic yet, or a wrong label?)")
        }
        guard result.count == 1 else { throw RouterError("prometheus: \(q) returned \(result.count) series; aggregate it to one (sum(...))") }
        guard let text = first["value"]?.arrayValue?.last?.stringValue, let v = Double(text) else {
            throw RouterError("prometheus: \(q) returned no value")
        }
        guard v.isFinite else { throw RouterError("prometheus: \(q) is \(text): not a number, not taken as zero") }
        return v
    }

    func percentEncode(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                out += "%" + String(b, radix: 16, uppercase: true).leftPadded(2)
            }
        }
        return out
    }

    /// A plain HTTP/1.0 GET of `path` from `url` (http://HOST:PORT, IPv4).
    func get(_ path: String, cancel: CancelFlag? = nil) throws(RouterError) -> String {
        guard url.hasPrefix("http://") else { throw RouterError("prometheus \(url): only http:// URLs are supported") }
        let hostPort = url.dropFirst(7).split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
        let address = hostPort.contains(":") ? hostPort : hostPort + ":80"
        let request = Array("GET \(path) HTTP/1.0\r\nHost: \(hostPort)\r\nAccept: application/json\r\n\r\n".utf8)
        let data: [UInt8]
        do { data = try PlainSocket.exchange(address, request, timeout: timeoutSeconds, maxBytes: 1 << 20, cancel: cancel) } catch { throw RouterError("prometheus \(error.message)") }
        let text = String(decoding: data, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw RouterError("prometheus \(url): not an HTTP answer") }
        let status = text.prefix(while: { $0 != "\r" }).split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        // 400 and 422 carry Prometheus' own error in the JSON body.
        guard status == 200 || status == 400 || status == 422 else { throw RouterError("prometheus \(url): HTTP \(status)") }
        return String(text[split.upperBound...])
    }
}

extension String {
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
