import Dispatch
import Foundation
import FridayEngine
import Synchronization

/// Set when the task waiting for an exchange is cancelled; the exchange stops within 50 ms.
public final class CancelFlag: Sendable {
    public init() {}
    private let raised = Atomic<Bool>(false)
    public func raise() { raised.store(true, ordering: .relaxed) }
    public var isRaised: Bool { raised.load(ordering: .relaxed) }
}

/// Runs blocking socket work on a queue of its own, never on Swift's cooperative pool
/// (two threads on a two-core machine: one stuck peer would stall the engine and the screen).
enum Blocking {
    private static let queue = DispatchQueue(label: "friday.blocking-io", attributes: .concurrent)

    static func run<T: Sendable>(_ body: @escaping @Sendable (CancelFlag) throws -> T) async throws -> T {
        let flag = CancelFlag()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (cont: CheckedContinuation<T, any Error>) in
                queue.async {
                    do { cont.resume(returning: try body(flag)) } catch { cont.resume(throwing: error) }
                }
            }
        } onCancel: { flag.raise() }
    }
}

/// One request, one answer over a stream socket: a Unix socket path, or `host:port` on IPv4.
/// Used for HAProxy's runtime API and Prometheus' HTTP API, which both answer and close.
///
/// Promises: the whole exchange (connect, send, every read) ends within `timeout` seconds
/// however slowly the peer trickles bytes; an answer longer than `maxBytes` is an error,
/// not read whole; a cancelled caller stops it within 50 ms.
public enum PlainSocket {
    static let defaultMaxBytes = 4 << 20

    static func exchange(_ address: String, _ request: [UInt8], timeout: Double, maxBytes: Int = defaultMaxBytes,
                         cancel: CancelFlag? = nil, hint: (Int32) -> String = { _ in "" }) throws(RouterError) -> [UInt8] {
        let deadline = ContinuousClock.now + .milliseconds(Int(max(0.001, timeout) * 1000))
        let isTCP = !address.hasPrefix("/") && address.contains(":")
        let fd = socket(isTCP ? AF_INET : AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw RouterError("\(address): cannot create a socket: \(String(cString: strerror(errno)))") }
        defer { Glibc.close(fd) }

        /// Waits until `fd` is ready for `events`, within the deadline and while not cancelled.
        func wait(_ events: Int16, doing what: String) throws(RouterError) {
            while true {
                if cancel?.isRaised == true { throw RouterError("\(address): cancelled while \(what)") }
                let left = deadline - ContinuousClock.now
                let ms = Int(left.components.seconds * 1000) + Int(left.components.attoseconds / 1_000_000_000_000_000)
                if ms <= 0 { throw RouterError("\(address): no complete answer within \(timeout) s (\(what))") }
                var p = pollfd(fd: fd, events: events, revents: 0)
                let r = poll(&p, 1, Int32(min(ms, 50)))
                if r < 0 { if errno == EINTR { continue }; throw RouterError("\(address): poll failed: \(String(cString: strerror(errno)))") }
                if r > 0 { return }
            }
        }

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
            var code = errno
            if code == EINPROGRESS || code == EAGAIN {
                try wait(Int16(POLLOUT), doing: "connecting")
                var soErr: Int32 = 0
                var len = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soErr, &len)
                code = soErr
            }
            if code != 0 { throw RouterError("\(address): cannot connect: \(String(cString: strerror(code)))\(hint(code))") }
        }
        var sent = 0
        while sent < request.count {
            let n = request.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { try wait(Int16(POLLOUT), doing: "sending"); continue }
                throw RouterError("\(address): cannot send: \(String(cString: strerror(errno)))")
            }
            sent += n
        }
        var out = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return out }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { try wait(Int16(POLLIN), doing: "reading the answer, \(out.count) bytes so far"); continue }
                throw RouterError("\(address): cannot read: \(String(cString: strerror(errno)))")
            }
            if out.count + n > maxBytes { throw RouterError("\(address): the answer is over \(maxBytes) bytes; not read further") }
            out.append(contentsOf: buf[0..<n])
        }
    }
}

extension PlainSocket {
    /// A plain HTTP GET with the production limits, for tests of misbehaving peers.
    public static func exchangeForTests(_ address: String, timeout: Double) throws(RouterError) -> [UInt8] {
        try exchange(address, Array("GET / HTTP/1.0\r\n\r\n".utf8), timeout: timeout)
    }
}
