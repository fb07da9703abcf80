import Foundation
import FridayEngine

/// One HAProxy runtime API endpoint: a Unix socket path, or `host:port` for a TCP `stats socket`.
///
/// Each command opens a connection, sends one line and reads the answer to the end (the
/// API's non-interactive mode), with a timeout, so a hung HAProxy cannot hang the engine.
public struct HAProxyRuntime: Sendable, Equatable {
    public let address: String
    public let timeoutSeconds: Double

    public init(address: String, timeoutSeconds: Double = 2) {
        self.address = address
        self.timeoutSeconds = timeoutSeconds
    }

    /// Sends `command` and returns the answer: off the cooperative pool, within the
    /// timeout in all, at most 4 MB, stopped when the calling task is cancelled.
    public func send(_ command: String) async throws(RouterError) -> String {
        let address = self.address, timeout = timeoutSeconds
        do {
            return try await Blocking.run { flag in
                let answer = try PlainSocket.exchange(address, Array((command + "\n").utf8), timeout: timeout, cancel: flag) { code in
                    code == ENOENT ? " (no such socket: is HAProxy running with `stats socket \(address) level admin`?)"
                        : code == ECONNREFUSED ? " (nothing is listening: is HAProxy running?)" : ""
                }
                return String(decoding: answer, as: UTF8.self)
            }
        } catch let e as RouterError { throw e } catch { throw RouterError("\(address): \(error)") }
    }

    /// `show stat` as rows of named fields.
    public func stats() async throws(RouterError) -> [[String: String]] {
        try HAProxyRuntime.parseStats(try await send("show stat"), address: address)
    }

    /// An answer to `show stat` (CSV with a `# ` header line) as rows of named fields.
    public static func parseStats(_ text: String, address: String) throws(RouterError) -> [[String: String]] {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        guard let header = lines.first, header.hasPrefix("# ") else {
            throw RouterError("\(address): unexpected answer to show stat: \(text.prefix(120))")
        }
        let names = header.dropFirst(2).split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        lines.removeFirst()
        return lines.map { line in
            let values = line.split(separator: ",", omittingEmptySubsequences: false)
            var row: [String: String] = [:]
            for (i, n) in names.enumerated() where i < values.count { row[n] = String(values[i]) }
            return row
        }
    }
}
