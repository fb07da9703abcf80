/// Makes outside text (chat lines, stage output, event fields) safe to put on a terminal.
///
/// Control characters (C0, DEL, C1) and so every escape sequence are shown as visible
/// caret notation (`^[`), never passed through; tabs become a space; bidi controls that
/// could reorder what is shown (embeddings, overrides, isolates, the LRM/RLM/ALM marks) and
/// the line and paragraph separators (U+2028/9) are shown as `?`. Invalid UTF-8 never gets
/// this far: it is decoded as U+FFFD (`�`), which is visible.
///
/// This is the one neutraliser: the dashboard's cells (`CellGrid.put`), and every line the
/// program writes for a person to read outside it (`Plain` in the `friday` target: `check`,
/// `replay --summary`, `status`, error messages, warnings, the serve log) go through it.
public enum TerminalText {
    public static func neutralise(_ s: String) -> String {
        var needs = false
        for u in s.unicodeScalars where isUnsafe(u) { needs = true; break }
        if !needs { return s }
        var out = String.UnicodeScalarView()
        for u in s.unicodeScalars {
            switch u.value {
            case 0x09: out.append(" ")
            case 0x00..<0x20:
                out.append("^"); out.append(Unicode.Scalar(u.value + 0x40)!)
            case 0x7F: out.append("^"); out.append("?")
            case 0x80..<0xA0: out.append("?")
            case 0x202A...0x202E, 0x2066...0x2069, 0x200E, 0x200F, 0x061C, 0x2028, 0x2029: out.append("?")
            default: out.append(u)
            }
        }
        return String(out)
    }

    /// Whether `s` holds no control, C1 or bidi characters (and so needs no neutralising).
    public static func isPlain(_ s: String) -> Bool {
        !s.unicodeScalars.contains { isUnsafe($0) }
    }

    /// Text of several lines: each line neutralised, the line breaks kept (a CR is shown as `^M`).
    public static func neutraliseLines(_ s: String) -> String {
        guard !isPlain(s.replacingNewlines()) else { return s }
        return s.split(separator: "\n", omittingEmptySubsequences: false).map { neutralise(String($0)) }.joined(separator: "\n")
    }

    @inline(__always) static func isUnsafe(_ u: Unicode.Scalar) -> Bool {
        let v = u.value
        if v < 0xA0 { return v < 0x20 || v >= 0x7F }
        return (v >= 0x202A && v <= 0x202E) || (v >= 0x2066 && v <= 0x2069) || v == 0x200E || v == 0x200F || v == 0x061C || v == 0x2028 || v == 0x2029
    }
}

extension String {
    /// The same text with its newlines as spaces (for a plainness test of several lines).
    func replacingNewlines() -> String {
        guard utf8.contains(0x0A) else { return self }
        return String(String.UnicodeScalarView(unicodeScalars.map { $0 == "\n" ? " " : $0 }))
    }
}
