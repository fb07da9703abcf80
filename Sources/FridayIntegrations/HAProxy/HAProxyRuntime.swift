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

    /// Sends `command` and returns the answer.
    public func send(_ command: String) throws(RouterError) -> String {
        let fd = try connect()
        defer { Glibc.close(fd) }
        var line = Array((command + "\n").utf8)
        var sent = 0
        while sent < line.count {
            let n = line.withUnsafeMutableBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 { if errno == EINTR { continue }; throw RouterError("\(address): cannot send: \(String(cString: strerror(errno)))") }
            sent += n
        }
        var out = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { break }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { throw RouterError("\(address): no answer within \(timeoutSeconds) s") }
                throw RouterError("\(address): cannot read: \(String(cString: strerror(errno)))")
            }
            out.append(contentsOf: buf[0..<n])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private func connect() throws(RouterError) -> Int32 {
        let isTCP = !address.hasPrefix("/") && address.contains(":")
        let fd = socket(isTCP ? AF_INET : AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw RouterError("\(address): cannot create a socket: \(String(cString: strerror(errno)))") }
        var tv = timeval(tv_sec: Int(timeoutSeconds), tv_usec: Int((timeoutSeconds - Double(Int(timeoutSeconds))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var rc: Int32
        if isTCP {
            let parts = address.split(separator: ":")
            guard parts.count == 2, let port = UInt16(parts[1]) else { Glibc.close(fd); throw RouterError("\(address): expected a socket path or host:port") }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = port.bigEndian
            guard inet_pton(AF_INET, String(parts[0]) == "localhost" ? "127.0.0.1" : String(parts[0]), &addr.sin_addr) == 1 else {
                Glibc.close(fd); throw RouterError("\(address): \(parts[0]) is not an IPv4 address")
            }
            rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        } else {
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            let path = Array(address.utf8)
            guard path.count < MemoryLayout.size(ofValue: addr.sun_path) else { Glibc.close(fd); throw RouterError("\(address): socket path too long") }
            withUnsafeMutableBytes(of: &addr.sun_path) { raw in
                for (i, b) in path.enumerated() { raw[i] = b }
                raw[path.count] = 0
            }
            rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        }
        if rc != 0 {
            let why = String(cString: strerror(errno))
            Glibc.close(fd)
            let hint = errno == ENOENT ? " (no such socket: is HAProxy running with `stats socket \(address) level admin`?)"
                : errno == ECONNREFUSED ? " (nothing is listening: is HAProxy running?)" : ""
            throw RouterError("\(address): cannot connect: \(why)\(hint)")
        }
        return fd
    }

    /// `show stat` as rows of named fields.
    public func stats() throws(RouterError) -> [[String: String]] {
        let text = try send("show stat")
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
