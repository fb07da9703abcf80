/// A JSON value whose objects keep their key order.
///
/// Event lines are written with a fixed key order (`v, seq, ts, deploy, type, data`) so that
/// a line's bytes, and so its checksum, depend only on its content. The parser reports the
/// byte offset of the first thing it could not read.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    public subscript(key: String) -> JSONValue? {
        if case let .object(pairs) = self { return pairs.first(where: { $0.0 == key })?.1 }
        return nil
    }

    public var stringValue: String? { if case let .string(s) = self { return s }; return nil }
    public var doubleValue: Double? { if case let .number(n) = self { return n }; return nil }
    public var intValue: Int? {
        if case let .number(n) = self, n.rounded() == n, abs(n) < 9.0e15 { return Int(n) }
        return nil
    }
    public var boolValue: Bool? { if case let .bool(b) = self { return b }; return nil }
    public var arrayValue: [JSONValue]? { if case let .array(a) = self { return a }; return nil }
    public var isNull: Bool { if case .null = self { return true }; return false }

    // MARK: writing

    /// The compact serialisation, no spaces, keys in stored order.
    public var serialized: String {
        var out = ""
        out.reserveCapacity(128)
        write(into: &out)
        return out
    }

    public func write(into out: inout String) {
        switch self {
        case .null: out += "null"
        case let .bool(b): out += b ? "true" : "false"
        case let .number(n): out += JSONValue.format(n)
        case let .string(s): JSONValue.writeString(s, into: &out)
        case let .array(items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(into: &out)
            }
            out += "]"
        case let .object(pairs):
            out += "{"
            for (i, (k, v)) in pairs.enumerated() {
                if i > 0 { out += "," }
                JSONValue.writeString(k, into: &out)
                out += ":"
                v.write(into: &out)
            }
            out += "}"
        }
    }

    static func format(_ n: Double) -> String {
        if !n.isFinite { return "null" }
        if n.rounded() == n, abs(n) < 1e15 { return String(Int64(n)) }
        return "\(n)"
    }

    static func writeString(_ s: String, into out: inout String) {
        out += "\""
        // Most strings need no escape at all: one append (a byte scan first).
        if JSONValue.isPlain(s) {
            out += s
            out += "\""
            return
        }
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if JSONValue.escapesAsCode(scalar.value) {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    /// No byte of `s` can need an escape: no C0, quote, backslash or DEL, and no lead byte
    /// of a sequence that might (0xC2: C1 controls; 0xD8: U+061C; 0xE2: U+2000–U+2FFF, the
    /// bidi controls and line separators among them). False sends the string the slow way.
    @inline(__always) static func isPlain(_ s: String) -> Bool {
        s.utf8.withContiguousStorageIfAvailable { buf -> Bool in
            for b in buf where b < 0x20 || b == 0x22 || b == 0x5C || b == 0x7F || b == 0xC2 || b == 0xD8 || b == 0xE2 { return false }
            return true
        } ?? false
    }

    /// Control characters (C0, DEL, C1), bidi controls and line separators are written as
    /// `\\u` escapes, so a consumer that prints a field never receives them raw.
    /// JSON written by another encoder (Foundation's leaves DEL, C1 and bidi controls raw) with
    /// those characters escaped as `\u` sequences, as friday's own writer does. Safe on any
    /// JSON text: such characters can only stand inside strings.
    public static func escapingControls(_ json: String) -> String {
        guard json.unicodeScalars.contains(where: { $0.value >= 0x7F && escapesAsCode($0.value) }) else { return json }
        var out = ""
        out.reserveCapacity(json.utf8.count + 16)
        for scalar in json.unicodeScalars {
            if scalar.value >= 0x7F, escapesAsCode(scalar.value) {
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    @inline(__always) static func escapesAsCode(_ v: UInt32) -> Bool {
        v < 0x20 || (v >= 0x7F && v < 0xA0) || v == 0x061C || v == 0x200E || v == 0x200F
            || (v >= 0x2028 && v <= 0x202E) || (v >= 0x2066 && v <= 0x2069)
    }

    // MARK: reading

    /// Parses one JSON document; throws `JSONParseError` with the byte offset.
    public static func parse(_ text: String) throws(JSONParseError) -> JSONValue {
        var bytes = Array(text.utf8)
        bytes.append(0)
        var parser = Parser(bytes: bytes)
        return try parser.parseDocument()
    }

    /// Parses one JSON document from raw bytes (which need not be valid UTF-8 everywhere).
    public static func parse(bytes raw: some Collection<UInt8>) throws(JSONParseError) -> JSONValue {
        var bytes = Array(raw)
        bytes.append(0)
        var parser = Parser(bytes: bytes)
        return try parser.parseDocument()
    }

    struct Parser {
        let bytes: [UInt8]
        var i = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func fail(_ what: String) -> JSONParseError { JSONParseError(offset: i, message: what) }

        mutating func skip() {
            while true {
                let c = bytes[i]
                if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { i += 1 } else { return }
            }
        }

        mutating func parseDocument() throws(JSONParseError) -> JSONValue {
            skip()
            let v = try value(depth: 0)
            skip()
            if i != bytes.count - 1 { throw fail("unexpected text after the value") }
            return v
        }

        mutating func value(depth: Int) throws(JSONParseError) -> JSONValue {
            if depth > 64 { throw fail("nested too deeply") }
            switch bytes[i] {
            case UInt8(ascii: "{"):
                i += 1
                var pairs: [(String, JSONValue)] = []
                skip()
                if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(pairs) }
                while true {
                    skip()
                    guard bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a quoted key") }
                    let k = try string()
                    skip()
                    guard bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':' after a key") }
                    i += 1
                    skip()
                    let v = try value(depth: depth + 1)
                    pairs.append((k, v))
                    skip()
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(pairs) }
                    throw fail("expected ',' or '}' in an object")
                }
            case UInt8(ascii: "["):
                i += 1
                var items: [JSONValue] = []
                skip()
                if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                while true {
                    skip()
                    items.append(try value(depth: depth + 1))
                    skip()
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                    throw fail("expected ',' or ']' in an array")
                }
            case UInt8(ascii: "\""):
                return .string(try string())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                return .number(try number())
            case 0: throw fail("unexpected end of text")
            default: throw fail("unexpected character")
            }
        }

        mutating func literal(_ word: String) throws(JSONParseError) {
            var k = i
            for b in word.utf8 {
                if bytes[k] != b { throw fail("unexpected word") }
                k += 1
            }
            i = k
        }

        mutating func number() throws(JSONParseError) -> Double {
            let start = i
            if bytes[i] == UInt8(ascii: "-") { i += 1 }
            var sawDigit = false
            var simple = true
            var intPart: Int64 = 0
            while bytes[i] >= 0x30 && bytes[i] <= 0x39 {
                if intPart < 100_000_000_000_000 { intPart = intPart * 10 + Int64(bytes[i] - 0x30) } else { simple = false }
                i += 1; sawDigit = true
            }
            if !sawDigit { throw fail("expected a digit") }
            if bytes[i] == UInt8(ascii: ".") || bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
                simple = false
                if bytes[i] == UInt8(ascii: ".") {
                    i += 1
                    guard bytes[i] >= 0x30 && bytes[i] <= 0x39 else { throw fail("expected a digit after '.'") }
                    while bytes[i] >= 0x30 && bytes[i] <= 0x39 { i += 1 }
                }
                if bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
                    i += 1
                    if bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
                    guard bytes[i] >= 0x30 && bytes[i] <= 0x39 else { throw fail("expected an exponent") }
                    while bytes[i] >= 0x30 && bytes[i] <= 0x39 { i += 1 }
                }
            }
            if simple {
                let v = Double(intPart)
                return bytes[start] == UInt8(ascii: "-") ? -v : v
            }
            let text = String(decoding: bytes[start..<i], as: UTF8.self)
            guard let d = Double(text) else { throw fail("bad number") }
            // 1e309 reads as infinity: a number JSON cannot carry back, refused here.
            guard d.isFinite else { throw fail("number out of range (beyond ±1.8e308)") }
            return d
        }

        mutating func string() throws(JSONParseError) -> String {
            i += 1 // opening quote
            let start = i
            // Fast path: no escapes.
            while true {
                let c = bytes[i]
                if c == UInt8(ascii: "\"") {
                    let s = String(decoding: bytes[start..<i], as: UTF8.self)
                    i += 1
                    return s
                }
                if c == UInt8(ascii: "\\") { break }
                if c == 0 && i == bytes.count - 1 { throw fail("unterminated string") }
                if c < 0x20 { throw fail("raw control character in a string") }
                i += 1
            }
            var buf = Array(bytes[start..<i])
            while true {
                let c = bytes[i]
                if c == UInt8(ascii: "\"") { i += 1; return String(decoding: buf, as: UTF8.self) }
                if c == 0 && i == bytes.count - 1 { throw fail("unterminated string") }
                if c < 0x20 { throw fail("raw control character in a string") }
                if c != UInt8(ascii: "\\") { buf.append(c); i += 1; continue }
                i += 1
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""): buf.append(0x22)
                case UInt8(ascii: "\\"): buf.append(0x5C)
                case UInt8(ascii: "/"): buf.append(0x2F)
                case UInt8(ascii: "b"): buf.append(0x08)
                case UInt8(ascii: "f"): buf.append(0x0C)
                case UInt8(ascii: "n"): buf.append(0x0A)
                case UInt8(ascii: "r"): buf.append(0x0D)
                case UInt8(ascii: "t"): buf.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if code >= 0xD800 && code < 0xDC00, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") {
                        i += 2
                        let low = try hex4()
                        if low >= 0xDC00 && low < 0xE000 {
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        } else { code = 0xFFFD }
                    }
                    let scalar = Unicode.Scalar(code) ?? "\u{FFFD}"
                    buf.append(contentsOf: Array(String(Character(scalar)).utf8))
                default: throw fail("bad escape in a string")
                }
            }
        }

        mutating func hex4() throws(JSONParseError) -> UInt32 {
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[i]
                let d: UInt32
                switch c {
                case 0x30...0x39: d = UInt32(c - 0x30)
                case 0x61...0x66: d = UInt32(c - 0x61 + 10)
                case 0x41...0x46: d = UInt32(c - 0x41 + 10)
                default: throw fail("bad \\u escape")
                }
                v = v * 16 + d
                i += 1
            }
            return v
        }
    }
}

/// Where and why a JSON text could not be read.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public let offset: Int
    public let message: String
    public var description: String { "\(message) at byte \(offset + 1)" }
}
