import Foundation
import FridayCore
import FridayEngine

/// A feature-flag rollout as a traffic split: the new version's share is a flag's
/// percentage in a JSON file that applications read
/// (`{"flags":{"checkout-v2":{"percent":25,"version":"v2.4.0"}}}`); a user is in the canary
/// when `FlagBucket.bucket(flag, user) < percent`.
///
/// Writes go to a temporary file that is synced and renamed over the old one, so a reader
/// never sees half a file; other flags in the file are kept. The split is read back from
/// the file before it is confirmed.
///
/// With several candidates the flag holds the whole split as segments of the 100 buckets in
/// order, a version possibly in more than one (`FlagBucket.layout`: each candidate a lane of
/// its own): `{"split":[{"version":"v2.4.0-a","percent":33},{"version":"v2.3.0","percent":17},
/// {"version":"v2.4.0-b","percent":33},{"version":"v2.3.0","percent":17}]}`; a user whose
/// bucket is b goes to the segment whose running total first exceeds b (`FlagBucket.version`).
/// A user stays with a candidate whose share does not fall, through steps and through
/// another candidate's take-out. The split is read back summed per version.
public final class FlagFileRouter: TrafficRouter, @unchecked Sendable {
    public let path: String
    public let flag: String
    public let from: String
    public let to: String
    /// Candidates after `to`, for a deploy of several.
    public let more: [String]
    public var name: String { "flag \(flag) in \(path)" }
    /// The order the engine keeps weights in (baseline, `to`, the others): what is read back.
    var versions: [String] { [from, to] + more }

    public init(path: String, flag: String, from: String, to: String, more: [String] = []) {
        self.path = path; self.flag = flag; self.from = from; self.to = to; self.more = more
    }

    public func setWeights(_ weights: [VersionWeight]) async throws -> [VersionWeight] {
        var flags = try readFlags() ?? [:]
        if more.isEmpty {
            guard let w = weights.first(where: { $0.version == to }) else { throw RouterError("no weight for \(to)") }
            flags[flag] = .object([("percent", .number(Double(w.percent))), ("version", .string(to))])
        } else {
            for v in versions where !weights.contains(where: { $0.version == v }) { throw RouterError("no weight for \(v)") }
            let segments = FlagBucket.layout(weights, candidates: [to] + more, baseline: from)
            flags[flag] = .object([("split", .array(segments.map { .object([("version", .string($0.version)), ("percent", .number(Double($0.percent)))]) }))])
        }
        let doc = JSONValue.object([("flags", .object(flags.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }))])
        let tmp = path + ".tmp-\(getpid())"
        let data = Data((doc.serialized + "\n").utf8)
        let fd = Glibc.open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw RouterError("\(path): cannot write \(tmp): \(String(cString: strerror(errno)))") }
        let ok = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } == data.count && fsync(fd) == 0
        Glibc.close(fd)
        guard ok, rename(tmp, path) == 0 else { unlink(tmp); throw RouterError("\(path): cannot write the flag file: \(String(cString: strerror(errno)))") }
        return try currentWeights() ?? []
    }

    public func currentWeights() throws -> [VersionWeight]? {
        guard let flags = try readFlags(), let f = flags[flag] else { return nil }
        if !more.isEmpty {
            guard let items = f["split"]?.arrayValue else { throw RouterError("\(path): flag \(flag) has no \"split\" list (a deploy of \(versions.count) versions)") }
            // Segments in bucket order, summed per version; a version of no deploy is an error.
            var byVersion: [String: Int] = [:]
            for item in items {
                guard let v = item["version"]?.stringValue, versions.contains(v) else {
                    throw RouterError("\(path): flag \(flag): \"\(TerminalText.neutralise(String((item["version"]?.stringValue ?? "?").prefix(80))))\" is not a version of this deploy (\(versions.joined(separator: ", ")))")
                }
                guard let p = item["percent"]?.intValue, (0...100).contains(p) else { throw RouterError("\(path): flag \(flag): \(v) has no whole \"percent\" 0–100") }
                byVersion[v, default: 0] += p
            }
            for v in versions where byVersion[v] == nil { throw RouterError("\(path): flag \(flag) has no weight for \(v)") }
            let out = versions.map { VersionWeight(version: $0, percent: byVersion[$0] ?? 0) }
            let sum = out.reduce(0) { $0 + $1.percent }
            guard sum == 100 else { throw RouterError("\(path): flag \(flag): the split adds up to \(sum), not 100") }
            return out
        }
        guard let p = f["percent"]?.intValue, (0...100).contains(p) else {
            throw RouterError("\(path): flag \(flag) has no whole \"percent\" 0–100")
        }
        return [VersionWeight(version: from, percent: 100 - p), VersionWeight(version: to, percent: p)]
    }

    func readFlags() throws(RouterError) -> [String: JSONValue]? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let value: JSONValue
        do { value = try JSONValue.parse(bytes: data) } catch { throw RouterError("\(path): not JSON: \(error.description)") }
        guard case let .object(pairs)? = value["flags"] else { throw RouterError("\(path): expected {\"flags\": {…}}") }
        return Dictionary(pairs, uniquingKeysWith: { a, _ in a })
    }
}
