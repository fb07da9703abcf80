import FridayCore
import Foundation
import FridayEngine

/// Steers the split with HAProxy's runtime API: one server per version in one backend,
/// weights as percentages (old = 100 − new), on every instance of a fleet.
///
/// Promises: a split is confirmed only when every instance reads it back (`get weight`);
/// an instance that fails is named in the error (and the next attempt sets all again); a
/// version whose server is DOWN or in maintenance while it should take traffic is an error.
public final class HAProxyRouter: TrafficRouter, @unchecked Sendable {
    public let name: String
    public let instances: [HAProxyRuntime]
    public let backend: String
    /// Version name → server name in the backend.
    public let servers: [String: String]

    public init(instances: [HAProxyRuntime], backend: String, servers: [String: String]) {
        self.instances = instances
        self.backend = backend
        self.servers = servers
        self.name = "haproxy " + instances.map(\.address).joined(separator: ",")
    }

    func server(for version: String) throws(RouterError) -> String {
        guard let s = servers[version] else { throw RouterError("no HAProxy server is configured for version \(version) (router.servers)") }
        return s
    }

    public func setWeights(_ weights: [VersionWeight]) async throws -> [VersionWeight] {
        var failures: [String] = []
        var readBack: [VersionWeight]?
        for inst in instances {
            if Task.isCancelled { throw RouterError("cancelled: a revert or pause took over") }
            let result = await apply(weights, on: inst)
            switch result {
            case let .success(got): readBack = readBack ?? got
            case let .failure(error): failures.append(error.message)
            }
        }
        if !failures.isEmpty {
            throw RouterError(failures.count == instances.count ? failures.joined(separator: "; ")
                                : "\(failures.count) of \(instances.count) instances failed: " + failures.joined(separator: "; "))
        }
        return readBack ?? []
    }

    /// Sets, reads back and checks health on one instance.
    func apply(_ weights: [VersionWeight], on inst: HAProxyRuntime) async -> Result<[VersionWeight], RouterError> {
        do throws(RouterError) {
            // Servers going to 0 first: a revert takes the failing version out with its first
            // command, never after the others have been raised around it.
            for w in weights.filter({ $0.percent == 0 }) + weights.filter({ $0.percent != 0 }) {
                let answer = try await inst.send("set weight \(backend)/\(try server(for: w.version)) \(w.percent)")
                try check(answer, inst)
            }
            let got = try await read(inst, versions: weights.map(\.version))
            if Set(got) != Set(weights) {
                return .failure(RouterError("\(inst.address) reports \(weightsText(got))"))
            }
            try await checkHealth(inst, weights)
            return .success(got)
        } catch {
            return .failure(error)
        }
    }

    public func currentWeights() async throws -> [VersionWeight]? {
        guard let first = instances.first else { return nil }
        return try await effective(first)
    }

    /// Every instance is read; the first whose split differs from `expected` is returned,
    /// so one hand-edited (or restarted) instance of a fleet is seen.
    public func readBack(expected: [VersionWeight]) async throws -> [VersionWeight]? {
        var first: [VersionWeight]?
        for inst in instances {
            let got = try await effective(inst)
            if Set(got) != Set(expected) { return got }
            first = first ?? got
        }
        return first
    }

    /// The weights an instance really routes by: a server DOWN or in maintenance counts as 0.
    func effective(_ inst: HAProxyRuntime) async throws(RouterError) -> [VersionWeight] {
        let versions = servers.keys.sorted()
        var got = try await read(inst, versions: versions)
        let rows = try await inst.stats()
        for (i, w) in got.enumerated() where w.percent > 0 {
            let s = try server(for: w.version)
            if let row = rows.first(where: { $0["pxname"] == backend && $0["svname"] == s }),
               let status = row["status"], status.hasPrefix("DOWN") || status.hasPrefix("MAINT") {
                got[i].percent = 0
            }
        }
        return got
    }

    /// `get weight` for each version, as percentages.
    func read(_ inst: HAProxyRuntime, versions: [String]) async throws(RouterError) -> [VersionWeight] {
        var out: [VersionWeight] = []
        for v in versions {
            let answer = try await inst.send("get weight \(backend)/\(try server(for: v))")
            try check(answer, inst)
            // "25 (initial 50)"
            guard let n = Int(answer.split(separator: " ").first ?? ""), (0...256).contains(n) else {
                throw RouterError("\(inst.address): unexpected answer to get weight \(backend)/\(try server(for: v)) (expected 0–256): \(TerminalText.neutralise(String(answer.prefix(80)))))")
            }
            out.append(VersionWeight(version: v, percent: n))
        }
        return out
    }

    /// A version that should take traffic must have its server UP.
    func checkHealth(_ inst: HAProxyRuntime, _ weights: [VersionWeight]) async throws(RouterError) {
        let rows = try await inst.stats()
        for w in weights where w.percent > 0 {
            let s = try server(for: w.version)
            guard let row = rows.first(where: { $0["pxname"] == backend && $0["svname"] == s }) else { continue }
            let status = row["status"] ?? ""
            if status.hasPrefix("DOWN") || status.hasPrefix("MAINT") {
                throw RouterError("\(inst.address): \(backend)/\(s) (\(w.version)) is \(status): weight \(w.percent)% set, but it takes no traffic")
            }
        }
    }

    func check(_ answer: String, _ inst: HAProxyRuntime) throws(RouterError) {
        let a = answer.trimmingCharacters(in: " \n")
        if a.hasPrefix("No such backend") || a.hasPrefix("No such server") || a.contains("No such") {
            throw RouterError("\(inst.address): \(a) (router.backend = \"\(backend)\", router.servers = \(servers.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")))")
        }
        if a.hasPrefix("Permission denied") || a.contains("Unknown command") {
            throw RouterError("\(inst.address): \(a) (the stats socket needs `level admin`)")
        }
    }
}
