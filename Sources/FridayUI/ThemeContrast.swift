/// How readable a theme is on a terminal: each role's text against the background it lands
/// on, as WCAG 2 computes contrast, at a colour depth and with the terminal's own palette.
/// A test holds every built-in theme to 4.5:1 for text and 3:1 for borders at 8, 16, 256
/// and 24-bit colours; `friday themes --contrast` prints the same table for any theme.
public enum ThemeContrast {
    /// The terminal the theme is drawn on: its 16 colours, its default text and background.
    public struct Terminal: Sendable {
        public var name: String
        public var palette: [(Int, Int, Int)]
        public var foreground: (Int, Int, Int)
        public var background: (Int, Int, Int)

        /// xterm's palette on its dark background (black, text in its white).
        public static let xtermDark = Terminal(name: "xterm, dark", palette: TermColor.xtermBasic, foreground: (229, 229, 229), background: (0, 0, 0))
        /// xterm's palette on a light background (white, text in black).
        public static let xtermLight = Terminal(name: "xterm, light", palette: TermColor.xtermBasic, foreground: (0, 0, 0), background: (255, 255, 255))
        /// Ethan Schoonover's 16 (base02, red … base2; base03, orange, base01 … base3) on base03.
        public static let solarizedDark = Terminal(name: "Solarized dark", palette: solarized, foreground: (0x83, 0x94, 0x96), background: (0x00, 0x2b, 0x36))
        /// The same 16 on base3.
        public static let solarizedLight = Terminal(name: "Solarized light", palette: solarized, foreground: (0x65, 0x7b, 0x83), background: (0xfd, 0xf6, 0xe3))

        static let solarized: [(Int, Int, Int)] = [
            (0x07, 0x36, 0x42), (0xdc, 0x32, 0x2f), (0x85, 0x99, 0x00), (0xb5, 0x89, 0x00), (0x26, 0x8b, 0xd2), (0xd3, 0x36, 0x82), (0x2a, 0xa1, 0x98), (0xee, 0xe8, 0xd5),
            (0x00, 0x2b, 0x36), (0xcb, 0x4b, 0x16), (0x58, 0x6e, 0x75), (0x65, 0x7b, 0x83), (0x83, 0x94, 0x96), (0x6c, 0x71, 0xc4), (0x93, 0xa1, 0xa1), (0xfd, 0xf6, 0xe3),
        ]

        /// The terminal a built-in theme is made for.
        public static func forTheme(_ name: String) -> Terminal {
            switch name {
            case "light": return .xtermLight
            case "solarized-dark": return .solarizedDark
            case "solarized-light": return .solarizedLight
            default: return .xtermDark
            }
        }
    }

    /// What a role needs: 4.5:1 for text, 3:1 for a border (WCAG 2.1, 1.4.3 and 1.4.11).
    public static func least(_ role: Role) -> Double? {
        switch role {
        case .border, .focusBorder, .dialogBorder: return 3
        case .selection: return nil // reverse video: the text's own colours, swapped
        default: return 4.5
        }
    }

    /// A role's contrast on `terminal` at `colors` colours (2^24: direct colour).
    public static func ratio(_ style: Style, colors: Int, on terminal: Terminal) -> Double {
        let r = Theme.resolve(style, colors: colors)
        func rgb(_ n: Int32, default d: (Int, Int, Int)) -> (Int, Int, Int) {
            if n < 0 { return d }
            if colors >= 1 << 24, n >= 8 { return (Int(n >> 16 & 0xFF), Int(n >> 8 & 0xFF), Int(n & 0xFF)) }
            if n < 16 { return terminal.palette[Int(n)] }
            return TermColor.rgb(UInt8(clamping: n))
        }
        var fg = rgb(r.fg, default: terminal.foreground)
        var bg = rgb(r.bg, default: terminal.background)
        if style.reverse { swap(&fg, &bg) }
        // Faint text (the dim attribute, asked for or added by the colour fallback) is drawn at
        // about half intensity by xterm, VTE and tmux: half-way to the background.
        if r.dim || style.dim { fg = ((fg.0 + bg.0) / 2, (fg.1 + bg.1) / 2, (fg.2 + bg.2) / 2) }
        return contrast(fg, bg)
    }

    /// WCAG 2 contrast ratio of two sRGB colours, 1 to 21.
    public static func contrast(_ a: (Int, Int, Int), _ b: (Int, Int, Int)) -> Double {
        func channel(_ c: Int) -> Double {
            let s = Double(c) / 255
            return s <= 0.04045 ? s / 12.92 : pow((s + 0.055) / 1.055, 2.4)
        }
        func luminance(_ c: (Int, Int, Int)) -> Double { 0.2126 * channel(c.0) + 0.7152 * channel(c.1) + 0.0722 * channel(c.2) }
        let (la, lb) = (luminance(a), luminance(b))
        return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)
    }

    /// Every role of `theme` below what it needs, at each depth: (colours, role, ratio).
    public static func shortfalls(_ theme: Theme, on terminal: Terminal, depths: [Int] = [8, 16, 256, 1 << 24]) -> [(colors: Int, role: Role, ratio: Double)] {
        var out: [(Int, Role, Double)] = []
        for colors in depths {
            for role in Role.allCases {
                guard let need = least(role) else { continue }
                let r = ratio(theme.style(role), colors: colors, on: terminal)
                if r < need { out.append((colors, role, r)) }
            }
        }
        return out
    }
}

private func pow(_ x: Double, _ y: Double) -> Double {
    // exp(y · ln x) without Foundation (x > 0 here).
    guard x > 0 else { return 0 }
    return expApprox(y * lnApprox(x))
}

private func lnApprox(_ x: Double) -> Double {
    // ln x = 2·atanh((x-1)/(x+1)), series to convergence (x in (0, 2] here).
    let t = (x - 1) / (x + 1), t2 = t * t
    var term = t, sum = 0.0, k = 1.0
    while abs(term / k) > 1e-15 { sum += term / k; term *= t2; k += 2 }
    return 2 * sum
}

private func expApprox(_ x: Double) -> Double {
    var term = 1.0, sum = 1.0, k = 1.0
    while abs(term) > 1e-16 * abs(sum) { term *= x / k; sum += term; k += 1 }
    return sum
}
