import Foundation
import FridayEngine

/// One request, one answer over a stream socket: a Unix socket path, or `host:port` on IPv4.
/// Used for HAProxy's runtime API and Prometheus' HTTP API, which both answer and close.
enum PlainSocket {
    /// Connects, sends `request`, reads until the peer closes; everything bounded by `timeout`.
    /// `hint` adds advice for a failed connect, given its errno.
    static func exchange(_ address: String, _ request: [UInt8], timeout: Double, hint: (Int32) -> String = { _ in "" }) throws(RouterError) -> [UInt8] {
        let isTCP = !address.hasPrefix("/") && address.contains(":")
        let fd = socket(isTCP ? AF_INET : AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw RouterError("\(address): cannot create a socket: \(String(cString: strerror(errno)))") }
        defer { Glibc.close(fd) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var rc: Int32
        if isTCP {
            let parts = address.split(separator: ":")
            guard parts.count == 2, let port = UInt16(parts[1]) else { throw RouterError("\(address): expected a socket path or host:port") }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = port.bigEndian
            let host = parts[0] == "localhost" ? "127.0.0.1" : String(parts[0])
            guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else { throw RouterError("\(address): \(host) is not an IPv4 address") }
            rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        } else {
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            let path = Array(address.utf8)
            guard path.count < MemoryLayout.size(ofValue: addr.sun_path) else { throw RouterError("\(address): socket path too long") }
            withUnsafeMutableBytes(of: &addr.sun_path) { raw in
                for (i, b) in path.enumerated() { raw[i] = b }
                raw[path.count] = 0
            }
            rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        }
        if rc != 0 {
            let code = errno
            throw RouterError("\(address): cannot connect: \(String(cString: strerror(code)))\(hint(code))")
        }
        var sent = 0
        while sent < request.count {
            let n = request.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 { if errno == EINTR { continue }; throw RouterError("\(address): cannot send: \(String(cString: strerror(errno)))") }
            sent += n
        }
        var out = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return out }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { throw RouterError("\(address): no answer within \(timeout) s") }
                throw RouterError("\(address): cannot read: \(String(cString: strerror(errno)))")
            }
            out.append(contentsOf: buf[0..<n])
        }
    }
}
