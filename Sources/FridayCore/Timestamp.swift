/// UTC timestamps as seconds since 1970, formatted as RFC 3339 with milliseconds.
///
/// Written in plain Swift (no formatter objects, no locale) so events format the same
/// way everywhere and formatting is cheap on the hot path.
public struct Timestamp: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// Seconds since 1970-01-01T00:00:00Z.
    public var seconds: Double

    public init(seconds: Double) { self.seconds = seconds }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.seconds < b.seconds }
    public static func + (a: Timestamp, d: Double) -> Timestamp { Timestamp(seconds: a.seconds + d) }
    public static func - (a: Timestamp, b: Timestamp) -> Double { a.seconds - b.seconds }

    /// `2026-11-27T16:00:00.000Z`
    public var description: String { rfc3339 }

    public var rfc3339: String {
        // To the nearest millisecond, which is what `init(rfc3339:)` keeps: a timestamp read
        // back is written the same.
        let first = Double(Timestamp.firstMillis), last = Double(Timestamp.lastMillis)
        let clamped: Double = max(first, min(last, (seconds * 1000).rounded()))
        let millisTotal = Int64(SafeNumber.int(clamped))
        var days = millisTotal / 86_400_000
        var rem = millisTotal % 86_400_000
        if rem < 0 { rem += 86_400_000; days -= 1 }
        let (y, m, d) = Timestamp.civil(fromDays: days)
        let h = rem / 3_600_000, mi = (rem / 60_000) % 60, s = (rem / 1000) % 60, ms = rem % 1000
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(h, 2)):\(pad(mi, 2)):\(pad(s, 2)).\(pad(ms, 3))Z"
    }

    /// 0001-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z, in milliseconds since 1970.
    static let firstMillis: Int64 = -62_135_596_800_000
    static let lastMillis: Int64 = 253_402_300_799_999

    /// `16:00:05` in UTC, for the team log.
    public var clockText: String {
        var rem = Int64(SafeNumber.int(seconds.rounded(.down))) % 86_400
        if rem < 0 { rem += 86_400 }
        return "\(pad(rem / 3600, 2)):\(pad((rem / 60) % 60, 2)):\(pad(rem % 60, 2))"
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z` (and `+00:00`).
    public init?(rfc3339 text: String) {
        let u = Array(text.utf8)
        func num(_ from: Int, _ len: Int) -> Int64? {
            guard from + len <= u.count else { return nil }
            var v: Int64 = 0
            for k in from..<(from + len) {
                let c = u[k]
                guard c >= 0x30 && c <= 0x39 else { return nil }
                v = v * 10 + Int64(c - 0x30)
            }
            return v
        }
        guard u.count >= 20, u[4] == 0x2D, u[7] == 0x2D, u[10] == 0x54 || u[10] == 0x20, u[13] == 0x3A, u[16] == 0x3A,
              let y = num(0, 4), let mo = num(5, 2), let d = num(8, 2), let h = num(11, 2), let mi = num(14, 2), let s = num(17, 2),
              (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 61
        else { return nil }
        var k = 19
        // Milliseconds, as friday writes them; further digits are read and dropped.
        var millis: Int64 = 0
        if k < u.count, u[k] == 0x2E {
            k += 1
            var digits = 0
            while k < u.count, u[k] >= 0x30, u[k] <= 0x39 {
                if digits < 3 { millis = millis * 10 + Int64(u[k] - 0x30) }
                digits += 1; k += 1
            }
            if digits == 0 { return nil }
            for _ in digits..<max(digits, 3) { millis *= 10 }
        }
        var offset: Int64 = 0
        if k < u.count, u[k] == 0x5A { k += 1 } else if k + 6 <= u.count, u[k] == 0x2B || u[k] == 0x2D, let oh = num(k + 1, 2), let om = num(k + 4, 2) {
            offset = (oh * 3600 + om * 60) * (u[k] == 0x2B ? 1 : -1); k += 6
        } else { return nil }
        guard k == u.count else { return nil }
        let days = Timestamp.days(fromCivil: y, mo, d)
        let whole: Int64 = days * 86400 + h * 3600 + mi * 60 + s - offset
        let total: Int64 = whole * 1000 + millis
        // Years 0001 to 9999, what RFC 3339 text can say and `rfc3339` writes back.
        guard (Timestamp.firstMillis...Timestamp.lastMillis).contains(total) else { return nil }
        seconds = Double(total) / 1000
    }

    // Howard Hinnant's civil calendar algorithms.
    static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    static func days(fromCivil y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}

private func pad(_ v: Int64, _ width: Int) -> String {
    let s = String(v)
    return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
}

/// Formats a duration in seconds as `1m05s`, `42s`, `1h02m`.
public func formatDuration(_ seconds: Double) -> String {
    let s = max(0, SafeNumber.int(seconds.rounded(.down)))
    if s < 60 { return "\(s)s" }
    if s < 3600 { return "\(s / 60)m\(pad(Int64(s % 60), 2))s" }
    return "\(s / 3600)h\(pad(Int64((s / 60) % 60), 2))m"
}

extension Timestamp {
    /// Whole days since 1970-01-01 (UTC), rounded down.
    var utcDays: Int64 { Int64(SafeNumber.int((seconds / 86_400).rounded(.down))) }

    /// `2026-11-27`, the UTC date.
    public var utcDate: String {
        let (y, m, d) = Timestamp.civil(fromDays: utcDays)
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))"
    }

    /// The UTC weekday, 0 for Monday to 6 for Sunday (1970-01-01 was a Thursday).
    public var utcWeekday: Int { Int(((utcDays + 3) % 7 + 7) % 7) }

    public static let weekdayNames = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
}
