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
/// With several candidates the flag holds the whole split, candidates first, baseline last:
/// `{"split":[{"version":"v2.4.0-a","percent":33},{"version":"v2.4.0-b","percent":33},{"version":"v2.3.0","percent":34}]}`;
/// a user whose bucket is b goes to the first version whose running total exceeds b
/// (`FlagBucket.version`). The candidates' share never falls from step to step, so nobody
/// in a candidate goes back to the baseline as the rollout moves on (short of a revert);
/// a user may move from one candidate to another when the split changes.
public final class FlagFileRouter: TrafficRouter, @unchecked Sendable {
    public let path: String
    public let flag: String
    public let from: String
    public let to: String
    /// Candidates after `to`, for a deploy of several.
    public let more: [String]
    public var name: String { "flag \(flag) in \(path)" }
    /// The order of the split in the file: candidates first, baseline last (see above).
    var fileOrder: [String] { [to] + more + [from] }
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
            let split = try fileOrder.map { v throws(RouterError) -> JSONValue in
                guard let w = weights.first(where: { $0.version == v }) else { throw RouterError("no weight for \(v)") }
                return .object([("version", .string(v)), ("percent", .number(Double(w.percent)))])
            }
            flags[flag] = .object([("split", .array(split))])
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
            var out: [VersionWeight] = []
            for v in versions {
                guard let item = items.first(where: { $0["version"]?.stringValue == v }) else { throw RouterError("\(path): flag \(flag) has no weight for \(v)") }
                guard let p = item["percent"]?.intValue, (0...100).contains(p) else { throw RouterError("\(path): flag \(flag): \(v) has no whole \"percent\" 0–100") }
                out.append(VersionWeight(version: v, percent: p))
            }
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
