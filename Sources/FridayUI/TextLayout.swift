import FridayCore

/// Fitting text into columns by display width.
public enum TextLayout {
    /// `text` cut to `width` columns, ending in `ellipsis` when cut.
    public static func fit(_ text: String, _ width: Int, ellipsis: String = "…") -> String {
        guard width > 0 else { return "" }
        if CharWidth.of(text) <= width { return text }
        let ew = CharWidth.of(ellipsis)
        var out = "", used = 0
        for ch in text {
            let w = CharWidth.of(ch)
            if used + w > width - ew { break }
            out.append(ch); used += w
        }
        return out + (ew <= width ? ellipsis : "")
    }

    /// `text` padded with spaces on the left to `width` columns.
    public static func right(_ text: String, _ width: Int) -> String {
        let w = CharWidth.of(text)
        return w >= width ? text : String(repeating: " ", count: width - w) + text
    }

    /// `text` padded with spaces on the right to `width` columns.
    public static func left(_ text: String, _ width: Int) -> String {
        let w = CharWidth.of(text)
        return w >= width ? fit(text, width) : text + String(repeating: " ", count: width - w)
    }

    /// Word-wraps `text` into at most `rows` lines of `width` columns; when it needs more,
    /// the last line shown ends in `…`, so a reader knows the text goes on.
    public static func wrap(_ text: String, _ width: Int, rows: Int) -> [String] {
        guard rows > 0 else { return [] }
        let all = wrap(text, width)
        guard all.count > rows else { return all }
        var shown = Array(all.prefix(rows))
        let last = shown[rows - 1]
        shown[rows - 1] = CharWidth.of(last) + 2 <= width ? last + " …" : fit(last + " …", width)
        return shown
    }

    /// Word-wraps `text` to lines of at most `width` columns (long words are split).
    public static func wrap(_ text: String, _ width: Int) -> [String] {
        guard width > 0 else { return [] }
        var lines: [String] = []
        var line = "", lineW = 0
        for word in text.split(separator: " ", omittingEmptySubsequences: false) {
            var w = String(word)
            var ww = CharWidth.of(w)
            if lineW > 0, lineW + 1 + ww <= width { line += " " + w; lineW += 1 + ww; continue }
            if lineW > 0 { lines.append(line); line = ""; lineW = 0 }
            while ww > width {
                var head = "", hw = 0
                var rest = Substring(w)
                while let c = rest.first, hw + CharWidth.of(c) <= width { head.append(c); hw += CharWidth.of(c); rest.removeFirst() }
                if head.isEmpty { head = String(rest.removeFirst()) }
                lines.append(head)
                w = String(rest); ww = CharWidth.of(w)
            }
            line = w; lineW = ww
        }
        lines.append(line)
        return lines
    }
}

/// `1,512`: the thousands-grouped form used across the screen.
public func groupedInt(_ n: Int) -> String { groupedNumber(n) }

/// The zone the screen's times are shown in: UTC unless the config's `time_zone` names one.
/// The offset is asked for at each time (summer time changes it), by a function the
/// program gives (Foundation's time-zone database), so the UI stays free of it and tests
/// choose the offset.
public struct ClockZone: Sendable {
    public var name: String
    public var offset: @Sendable (Timestamp) -> (seconds: Int, abbreviation: String)

    public init(name: String, offset: @escaping @Sendable (Timestamp) -> (seconds: Int, abbreviation: String)) {
        self.name = name; self.offset = offset
    }

    public static let utc = ClockZone(name: "UTC") { _ in (0, "UTC") }

    /// `16:00:05` in this zone.
    public func clock(_ t: Timestamp) -> String {
        let o = offset(t).seconds
        guard o != 0, (-86_400...86_400).contains(o) else { return t.clockText }
        return Timestamp(seconds: t.seconds + Double(o)).clockText
    }

    /// The zone's short name at a time ("UTC", "CET", "+0530").
    public func label(_ t: Timestamp) -> String { TerminalText.neutralise(String(offset(t).abbreviation.prefix(12))) }
}
