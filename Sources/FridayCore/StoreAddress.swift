/// Where a shared PostgreSQL history lives: `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`
/// (also `postgresql://`), with `?host=/run/postgresql` for a Unix socket folder and
/// `?sslmode=disable|prefer|require`. A password may instead come from `$PGPASSWORD`, as
/// libpq's tools take it, so that deploy files need not hold one.
public struct StoreAddress: Sendable, Equatable {
    public enum Endpoint: Sendable, Equatable { case tcp(host: String, port: Int), unix(path: String) }
    public enum TLS: String, Sendable, Equatable { case disable, prefer, require }
    public var endpoint: Endpoint
    public var user: String
    public var password: String?
    public var database: String
    public var tls: TLS

    /// The address without its password, safe to print.
    public var redacted: String {
        let where_: String
        switch endpoint {
        case let .tcp(h, p): where_ = "\(h.contains(":") ? "[\(h)]" : h):\(p)"
        case let .unix(path): where_ = "(socket \(path))"
        }
        return "postgres://\(user)\(password == nil ? "" : ":***")@\(where_)/\(database)"
    }

    /// Reads an address; the error says what is wrong and never repeats a password.
    public init(parsing text: String, environment: [String: String] = [:]) throws(StoreAddressError) {
        let example = "e.g. postgres://friday@db.internal:5432/friday"
        var rest = Substring(text)
        guard let scheme = rest.range(of: "://"), ["postgres", "postgresql"].contains(rest[..<scheme.lowerBound]) else {
            throw StoreAddressError("expected a postgres:// address, \(example)")
        }
        rest = rest[scheme.upperBound...]
        var query: Substring = ""
        if let q = rest.firstIndex(of: "?") { query = rest[rest.index(after: q)...]; rest = rest[..<q] }
        guard let slash = rest.firstIndex(of: "/") else { throw StoreAddressError("no database name: expected …/DATABASE at the end, \(example)") }
        let authority = rest[..<slash]
        database = try Self.decode(rest[rest.index(after: slash)...], "the database name")
        guard !database.isEmpty, !database.contains("/") else { throw StoreAddressError("no database name: expected …/DATABASE at the end, \(example)") }
        guard let at = authority.lastIndex(of: "@") else { throw StoreAddressError("no user: expected USER@HOST, \(example)") }
        let userInfo = authority[..<at], hostPort = authority[authority.index(after: at)...]
        if let colon = userInfo.firstIndex(of: ":") {
            user = try Self.decode(userInfo[..<colon], "the user")
            password = try Self.decode(userInfo[userInfo.index(after: colon)...], "the password")
        } else {
            user = try Self.decode(userInfo, "the user")
            password = nil
        }
        guard !user.isEmpty else { throw StoreAddressError("no user: expected USER@HOST, \(example)") }
        if password == nil, let p = environment["PGPASSWORD"], !p.isEmpty { password = p }
        tls = .prefer
        var socketFolder: String?
        for pair in query.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(kv[0]), value = kv.count > 1 ? try Self.decode(kv[1], key) : ""
            switch key {
            case "sslmode":
                guard let t = TLS(rawValue: value) else { throw StoreAddressError("sslmode must be disable, prefer or require, not \"\(TerminalText.neutralise(value))\"") }
                tls = t
            case "host":
                guard value.hasPrefix("/") else { throw StoreAddressError("?host= takes the folder of a Unix socket (an absolute path), e.g. ?host=/run/postgresql") }
                socketFolder = value
            default:
                throw StoreAddressError("unknown setting \"\(TerminalText.neutralise(key))\": expected sslmode or host")
            }
        }
        var port = 5432
        var host = String(hostPort)
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { throw StoreAddressError("an IPv6 host must be in brackets, e.g. [::1]:5432") }
            let after = host[host.index(after: close)...]
            if after.hasPrefix(":") { port = try Self.port(after.dropFirst()) } else if !after.isEmpty { throw StoreAddressError("expected :PORT after the host") }
            host = String(host[host.index(after: host.startIndex)..<close])
        } else if let colon = host.lastIndex(of: ":") {
            port = try Self.port(host[host.index(after: colon)...])
            host = String(host[..<colon])
        }
        if let socketFolder {
            endpoint = .unix(path: "\(socketFolder)/.s.PGSQL.\(port)")
            tls = .disable
        } else {
            guard !host.isEmpty, host.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
                throw StoreAddressError("no host: expected USER@HOST[:PORT], \(example) (or ?host=/socket/folder)")
            }
            endpoint = .tcp(host: host, port: port)
        }
    }

    private static func port(_ s: Substring) throws(StoreAddressError) -> Int {
        guard let p = Int(s), (1...65535).contains(p) else { throw StoreAddressError("the port must be 1 to 65535, not \"\(TerminalText.neutralise(String(s.prefix(20))))\"") }
        return p
    }

    /// Percent-decoding; a control character in any part is refused.
    private static func decode(_ s: Substring, _ what: String) throws(StoreAddressError) -> String {
        var bytes: [UInt8] = []
        var i = s.utf8.startIndex
        let u = s.utf8
        while i < u.endIndex {
            let b = u[i]
            if b == UInt8(ascii: "%") {
                let h1 = u.index(after: i)
                guard h1 < u.endIndex, u.index(after: h1) < u.endIndex, let hi = hex(u[h1]), let lo = hex(u[u.index(after: h1)]) else {
                    throw StoreAddressError("\(what) has a bad %-escape (expected %XX)")
                }
                bytes.append(hi << 4 | lo)
                i = u.index(i, offsetBy: 3)
            } else {
                bytes.append(b)
                i = u.index(after: i)
            }
        }
        guard let text = String(validating: bytes, as: UTF8.self), text.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) else {
            throw StoreAddressError("\(what) holds a control character or invalid UTF-8")
        }
        return text
    }

    private static func hex(_ b: UInt8) -> UInt8? {
        switch b {
        case 0x30...0x39: return b - 0x30
        case 0x41...0x46: return b - 0x41 + 10
        case 0x61...0x66: return b - 0x61 + 10
        default: return nil
        }
    }
}

public struct StoreAddressError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
