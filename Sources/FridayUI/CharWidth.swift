import Synchronization

/// Terminal column widths of characters: 0 for combining marks, 2 for East Asian wide
/// and most emoji, 1 otherwise. A small table in Swift, so FridayUI needs no C; a real
/// terminal installs its C library's `wcwidth` (`useTerminal`), so the screen places
/// cells exactly as ncurses will (✅ in chat no longer breaks a border).
public enum CharWidth {
    /// The terminal's widths for U+0000–U+3FFFF (2 bits a code point would do; a byte is simpler), once installed.
    private static let table = Mutex<[UInt8]?>(nil)
    static let tableEnd: UInt32 = 0x40000

    /// Uses `measure` (the terminal's `wcwidth`) for every code point below U+40000; a
    /// negative answer (not printable) keeps the built-in width.
    public static func useTerminal(_ measure: (UInt32) -> Int) {
        var t = [UInt8](repeating: 0, count: Int(tableEnd))
        for v in 0..<tableEnd {
            let w = measure(v)
            t[Int(v)] = w >= 0 ? UInt8(min(w, 2)) : UInt8(builtIn(v))
        }
        table.withLock { $0 = t }
    }

    /// Back to the built-in table (tests).
    public static func useBuiltIn() { table.withLock { $0 = nil } }

    public static func of(_ c: Character) -> Int {
        guard let first = c.unicodeScalars.first else { return 0 }
        // With the terminal's table, a character is as wide as ncurses will draw it: its
        // scalars' widths (❤️, U+2764 U+FE0F, is 1 there), at most 2.
        if table.withLock({ $0 != nil }) { return min(2, c.unicodeScalars.reduce(0) { $0 + of($1) }) }
        if c.unicodeScalars.count > 1, c.unicodeScalars.contains(where: { $0.value == 0xFE0F }) { return 2 }
        return of(first)
    }

    public static func of(_ u: Unicode.Scalar) -> Int {
        let v = u.value
        if v < 0x300 { return v < 0x20 || (v >= 0x7F && v < 0xA0) ? 0 : 1 }
        if v < tableEnd, let w = table.withLock({ $0.map { Int($0[Int(v)]) } }) { return w }
        return builtIn(v)
    }

    static func builtIn(_ v: UInt32) -> Int {
        if v < 0x300 { return v < 0x20 || (v >= 0x7F && v < 0xA0) ? 0 : 1 }
        if isZero(v) { return 0 }
        if isWide(v) { return 2 }
        return 1
    }

    public static func of(_ s: String) -> Int {
        var n = 0
        for c in s { n += of(c) }
        return n
    }

    static func isZero(_ v: UInt32) -> Bool {
        (0x0300...0x036F).contains(v) || (0x0483...0x0489).contains(v) || (0x0591...0x05BD).contains(v)
            || (0x0610...0x061A).contains(v) || (0x064B...0x065F).contains(v) || (0x200B...0x200F).contains(v)
            || (0x20D0...0x20FF).contains(v) || (0xFE00...0xFE0F).contains(v) || (0xFE20...0xFE2F).contains(v)
            || v == 0x200D || (0xE0100...0xE01EF).contains(v)
    }

    static func isWide(_ v: UInt32) -> Bool {
        (0x1100...0x115F).contains(v) || (0x2E80...0x303E).contains(v) || (0x3041...0x33FF).contains(v)
            || (0x3400...0x4DBF).contains(v) || (0x4E00...0x9FFF).contains(v) || (0xA000...0xA4CF).contains(v)
            || (0xAC00...0xD7A3).contains(v) || (0xF900...0xFAFF).contains(v) || (0xFE30...0xFE4F).contains(v)
            || (0xFF00...0xFF60).contains(v) || (0xFFE0...0xFFE6).contains(v) || (0x1F300...0x1F64F).contains(v)
            || (0x1F900...0x1F9FF).contains(v) || (0x1FA70...0x1FAFF).contains(v) || (0x1F680...0x1F6FF).contains(v)
            || (0x20000...0x2FFFD).contains(v) || (0x30000...0x3FFFD).contains(v) || v == 0x26A1
    }
}
