/// Makes outside text (chat lines, stage output, event fields) safe to put on a terminal.
///
/// Control characters (C0, DEL, C1) and so every escape sequence are shown as visible
/// caret notation (`^[`), never passed through; tabs become a space; bidi overrides that
/// could reorder what is shown are dropped.
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
            case 0x202A...0x202E, 0x2066...0x2069: break
            default: out.append(u)
            }
        }
        return String(out)
    }

    /// Whether `s` holds no control, C1 or bidi characters (and so needs no neutralising).
    public static func isPlain(_ s: String) -> Bool {
        !s.unicodeScalars.contains { isUnsafe($0) || $0.value == 0x200E || $0.value == 0x200F || $0.value == 0x061C }
    }

    @inline(__always) static func isUnsafe(_ u: Unicode.Scalar) -> Bool {
        let v = u.value
        return v < 0x20 || v == 0x7F || (v >= 0x80 && v < 0xA0) || (v >= 0x202A && v <= 0x202E) || (v >= 0x2066 && v <= 0x2069)
    }
}
