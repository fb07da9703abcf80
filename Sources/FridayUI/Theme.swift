import FridayCore
import TOMLKit

/// A terminal colour: the terminal's own default, one of the 256 indexed colours, or a
/// 24-bit colour (`#rrggbb`: drawn as it is on a direct-colour terminal, as the nearest of
/// the 256 elsewhere).
public enum TermColor: Sendable, Equatable, Hashable {
    case terminalDefault
    case indexed(UInt8)
    case rgb(UInt32)

    /// The colour among the xterm 256 (nil: the terminal's default).
    public var index256: UInt8? {
        switch self {
        case .terminalDefault: return nil
        case let .indexed(n): return n
        case let .rgb(v): return TermColor.nearest(r: Int(v >> 16 & 0xFF), g: Int(v >> 8 & 0xFF), b: Int(v & 0xFF))
        }
    }

    /// The colour number on a direct-colour terminal (`TERM=xterm-direct`, `COLORS` 2^24):
    /// 0-7 are the terminal's own eight, any other number is 0xRRGGBB (so a 24-bit colour
    /// below 8, a near black, is nudged to 8). -1 is the terminal's default.
    public var direct: Int32 {
        switch self {
        case .terminalDefault: return -1
        case let .indexed(n) where n < 8: return Int32(n)
        case let .indexed(n):
            let (r, g, b) = TermColor.rgb(n)
            return max(8, Int32(r << 16 | g << 8 | b))
        case let .rgb(v): return max(8, Int32(v & 0xFF_FFFF))
        }
    }

    static let names: [String: UInt8] = [
        "black": 0, "red": 1, "green": 2, "yellow": 3, "blue": 4, "magenta": 5, "cyan": 6, "white": 7,
        "bright-black": 8, "gray": 8, "grey": 8, "bright-red": 9, "bright-green": 10, "bright-yellow": 11,
        "bright-blue": 12, "bright-magenta": 13, "bright-cyan": 14, "bright-white": 15,
    ]

    /// `default`, a name (`red`, `bright-black`), `#rrggbb` (24-bit), or `0`–`255`.
    public init?(parsing text: String) {
        let t = text.lowercased()
        if t == "default" { self = .terminalDefault; return }
        if let n = TermColor.names[t] { self = .indexed(n); return }
        if let n = UInt8(t) { self = .indexed(n); return }
        if t.hasPrefix("#"), t.count == 7, t.dropFirst().allSatisfy(\.isHexDigit), let v = UInt32(t.dropFirst(), radix: 16) {
            self = .rgb(v)
            return
        }
        return nil
    }

    /// The nearest xterm-256 colour (cube or grey ramp).
    static func nearest(r: Int, g: Int, b: Int) -> UInt8 {
        let levels = [0, 95, 135, 175, 215, 255]
        func idx(_ c: Int) -> Int { levels.enumerated().min(by: { abs($0.1 - c) < abs($1.1 - c) })!.0 }
        let (ri, gi, bi) = (idx(r), idx(g), idx(b))
        let cube = (levels[ri], levels[gi], levels[bi])
        let cubeDist = sq(cube.0 - r) + sq(cube.1 - g) + sq(cube.2 - b)
        let avg = (r + g + b) / 3
        let gi2 = max(0, min(23, (avg - 8 + 5) / 10))
        let grey = 8 + gi2 * 10
        let greyDist = sq(grey - r) + sq(grey - g) + sq(grey - b)
        return greyDist < cubeDist ? UInt8(232 + gi2) : UInt8(16 + 36 * ri + 6 * gi + bi)
    }

    /// The red, green and blue of an xterm-256 colour (the basic 16 as xterm draws them).
    /// The basic 16 as xterm draws them by default.
    public static let xtermBasic: [(Int, Int, Int)] = [
        (0, 0, 0), (205, 0, 0), (0, 205, 0), (205, 205, 0), (0, 0, 238), (205, 0, 205), (0, 205, 205), (229, 229, 229),
        (127, 127, 127), (255, 0, 0), (0, 255, 0), (255, 255, 0), (92, 92, 255), (255, 0, 255), (0, 255, 255), (255, 255, 255),
    ]

    static func rgb(_ n: UInt8) -> (Int, Int, Int) {
        if n < 16 { return xtermBasic[Int(n)] }
        if n >= 232 { let v = 8 + Int(n - 232) * 10; return (v, v, v) }
        let levels = [0, 95, 135, 175, 215, 255]
        let i = Int(n) - 16
        return (levels[i / 36], levels[i / 6 % 6], levels[i % 6])
    }

    /// Colour `n` on a terminal of `colors` colours, and whether it needs the dim attribute
    /// to keep its meaning. Not `n % 8` (which made the header magenta on yellow and grey
    /// borders black): a colour keeps its hue, greys go to black or white by lightness, and
    /// bright black (borders, dim text) becomes dim white rather than black on black.
    /// A style's two colours brought down together: if both land on the same basic colour
    /// (a grey on a lighter grey, on 8 colours both white), the text takes the opposite of
    /// the background, so it is never invisible. -1 is the terminal's own colour.
    public static func downsample(fg: TermColor, bg: TermColor, colors: Int) -> (fg: Int16, dim: Bool, bg: Int16) {
        func one(_ c: TermColor) -> (Int16, Bool) {
            if let n = c.index256 { let d = downsample(n, colors: colors); return (d.index, d.dim) }
            return (-1, false)
        }
        var (f, dim) = one(fg)
        let (b, _) = one(bg)
        if f >= 0, f == b { f = b == 0 ? 7 : 0; dim = false }
        return (f, dim, b)
    }

    public static func downsample(_ n: UInt8, colors: Int) -> (index: Int16, dim: Bool) {
        if Int(n) < colors { return (Int16(n), false) }
        if colors < 8 { return (-1, false) }
        if n == 8 || n == 7 || n == 15 { return (7, n == 8) }
        if n < 16 { return (Int16(n - 8), false) }
        let (r, g, b) = rgb(n)
        let hi = max(r, g, b), lo = min(r, g, b)
        let light = (hi + lo) / 2
        // Greys and near-greys: by lightness (dark ones are the background's black).
        if hi - lo < 40 { return light < 60 ? (0, false) : (7, light < 160) }
        if hi < 70 { return (0, false) }
        // Otherwise the hue: red 0°, yellow 60°, green 120°, cyan 180°, blue 240°, magenta 300°.
        let d = Double(hi - lo)
        var h: Double
        if hi == r { h = 60 * (Double(g - b) / d) } else if hi == g { h = 60 * (Double(b - r) / d + 2) } else { h = 60 * (Double(r - g) / d + 4) }
        if h < 0 { h += 360 }
        let order: [Int16] = [1, 3, 2, 6, 4, 5] // red, yellow, green, cyan, blue, magenta
        return (order[Int(((h + 30) / 60).rounded(.down)) % 6], false)
    }
}

private func sq(_ x: Int) -> Int { x * x }

/// How a role looks: colours and attributes, and the theme's own choice of colours for
/// 16- and 8-colour terminals (`fg16`, `bg16`, `fg8`, `bg8`; where it gives none, the
/// colour is brought down by `TermColor.downsample`).
public struct Style: Sendable, Equatable, Hashable {
    public var fg: TermColor = .terminalDefault
    public var bg: TermColor = .terminalDefault
    public var fg16: TermColor?
    public var bg16: TermColor?
    public var fg8: TermColor?
    public var bg8: TermColor?
    public var bold = false
    public var dim = false
    public var underline = false
    public var reverse = false
    public init(fg: TermColor = .terminalDefault, bg: TermColor = .terminalDefault, bold: Bool = false, dim: Bool = false, underline: Bool = false, reverse: Bool = false) {
        self.fg = fg; self.bg = bg; self.bold = bold; self.dim = dim; self.underline = underline; self.reverse = reverse
    }
}

/// A named mapping from roles to styles. The default is compiled in, so a missing
/// themes folder never stops friday from starting.
public struct Theme: Sendable, Equatable {
    public var name: String
    public var styles: [Role: Style]

    public func style(_ r: Role) -> Style { styles[r] ?? Style() }

    /// A role's colours on a terminal of `colors` colours (direct colour: 2^24): colour
    /// numbers for the terminal (-1 its default) and whether the dim attribute keeps the meaning.
    /// The theme's own fallbacks win on 16 and on 8 colours; on 8, a 16-colour fallback is not
    /// used (its bright slots are the ones a palette such as Solarized redefines).
    public static func resolve(_ s: Style, colors: Int) -> (fg: Int32, dim: Bool, bg: Int32) {
        if colors >= 1 << 24 { return (s.fg.direct, false, s.bg.direct) }
        var fg = s.fg, bg = s.bg
        if colors < 16 { fg = s.fg8 ?? s.fg; bg = s.bg8 ?? s.bg } else if colors < 256 { fg = s.fg16 ?? s.fg; bg = s.bg16 ?? s.bg }
        let d = TermColor.downsample(fg: fg, bg: bg, colors: colors)
        return (Int32(d.fg), d.dim, Int32(d.bg))
    }

    /// The same theme without colours (for `NO_COLOR`): attributes only.
    public var withoutColor: Theme {
        var t = self
        for (k, v) in styles { t.styles[k] = Style(bold: v.bold, dim: v.dim, underline: v.underline, reverse: v.reverse) }
        return t
    }

    /// The text of `themes/default.toml`, compiled in.
    public static let defaultSource = """
    # friday default theme. Colours: "default" (the terminal's own), a name such as
    # "red" or "bright-black", "#rrggbb", or 0-255. Attributes: bold, dim, underline, reverse.
    # fg8/bg8, fg16/bg16: what a role is on 8 and 16 colours, where the 256 would land on a
    # colour below 4.5:1 (3:1 for borders) against the background (a test computes it).
    name = "default"

    [roles]
    text = { fg = "default" }
    dim = { fg = "bright-black", fg8 = "white" }
    title = { fg = "cyan", bold = true }
    border = { fg = "bright-black" }
    focus_border = { fg = "cyan", bold = true }
    header = { fg = "white", bg = "#1c2a3a", bold = true }
    header_accent = { fg = "#ffd75f", bg = "#1c2a3a", bold = true }
    good = { fg = "green" }
    warn = { fg = "yellow", bold = true }
    bad = { fg = "#ff5f5f", bold = true, fg16 = "bright-red", fg8 = "white", bg8 = "red" }
    accent = { fg = "cyan" }
    old_version = { fg = "#5fafff", fg16 = "bright-cyan", fg8 = "white" }
    new_version = { fg = "#d787ff", fg16 = "bright-magenta", fg8 = "cyan" }
    key_hint = { fg = "default" }
    key_name = { fg = "black", bg = "cyan" }
    dialog = { fg = "default" }
    dialog_border = { fg = "yellow", bold = true }
    input = { fg = "default", underline = true }
    chat_name = { fg = "#87d7af", bold = true }
    selection = { reverse = true }
    """

    public static let monochromeSource = """
    # friday monochrome theme: attributes only, for terminals without colour or for NO_COLOR.
    name = "monochrome"

    [roles]
    text = {}
    dim = { dim = true }
    title = { bold = true }
    border = { dim = true }
    focus_border = { bold = true }
    header = { reverse = true }
    header_accent = { reverse = true, bold = true }
    good = {}
    warn = { bold = true }
    bad = { bold = true, underline = true }
    accent = { bold = true }
    old_version = {}
    new_version = { bold = true }
    key_hint = {}
    key_name = { reverse = true }
    dialog = {}
    dialog_border = { bold = true }
    input = { underline = true }
    chat_name = { bold = true }
    selection = { reverse = true }
    """

    public static let lightSource = """
    # friday light theme: for terminals with a light background.
    # Colours: "default", a name such as "red" or "bright-black", "#rrggbb", or 0-255.
    # fg8/bg8, fg16/bg16: what a role is on 8 and 16 colours, where the 256 would land on a
    # colour below 4.5:1 (3:1 for borders) against the background (a test computes it).
    name = "light"

    [roles]
    text = { fg = "default" }
    dim = { fg = "#6c6c6c", fg16 = "black", fg8 = "black" }
    title = { fg = "#005f87", bold = true, fg16 = "blue", fg8 = "blue" }
    border = { fg = "#8a8a8a", fg16 = "bright-black", fg8 = "black" }
    focus_border = { fg = "#005f87", bold = true, fg16 = "blue", fg8 = "blue" }
    header = { fg = "#ffffff", bg = "#005f87", bold = true, fg16 = "bright-white", bg16 = "blue", fg8 = "white", bg8 = "blue" }
    header_accent = { fg = "#ffd700", bg = "#005f87", bold = true, fg16 = "bright-yellow", bg16 = "blue", fg8 = "yellow", bg8 = "blue" }
    good = { fg = "#008700", fg16 = "black", bg16 = "green", fg8 = "black", bg8 = "green" }
    warn = { fg = "#af5f00", bold = true, fg16 = "black", bg16 = "yellow", fg8 = "black", bg8 = "yellow" }
    bad = { fg = "#d70000", bold = true }
    accent = { fg = "#005f87", fg16 = "blue", fg8 = "blue" }
    old_version = { fg = "#0072b6", fg16 = "blue", fg8 = "blue" }
    new_version = { fg = "#8700af" }
    key_hint = { fg = "default" }
    key_name = { fg = "#ffffff", bg = "#005f87", fg16 = "bright-white", bg16 = "blue", fg8 = "white", bg8 = "blue" }
    dialog = { fg = "default" }
    dialog_border = { fg = "#af5f00", bold = true, fg16 = "red", fg8 = "red" }
    input = { fg = "default", underline = true }
    chat_name = { fg = "#005f5f", bold = true, fg16 = "blue", fg8 = "blue" }
    selection = { reverse = true }
    """

    public static let solarizedDarkSource = """
    # friday solarized dark theme: Ethan Schoonover's palette on base03.
    # Colours: "default", a name such as "red" or "bright-black", "#rrggbb", or 0-255.
    # fg16/bg16: the slots of the Solarized 16-colour palette, for terminals set up with it.
    # Contrast: text 4.5:1 and borders 3:1 on base03/base3 at 8, 16, 256 and 24-bit colours
    # (a test computes it). Solarized's own accents sit below 4.5:1 on its bases, so this
    # theme uses tints a step further from the background, and on 8 and 16 colours the base
    # tones, with bold and underline carrying the meaning.
    name = "solarized-dark"

    [roles]
    text = { fg = "#93a1a1", fg16 = "bright-cyan", fg8 = "white" }
    dim = { fg = "#839496", fg16 = "bright-blue", fg8 = "white" }
    title = { fg = "#3f9cdc", bold = true, fg16 = "bright-cyan", fg8 = "cyan" }
    border = { fg = "#5f767e", fg16 = "bright-yellow" }
    focus_border = { fg = "#2aa198", bold = true, fg16 = "cyan" }
    header = { fg = "#93a1a1", bg = "#073642", bold = true, fg16 = "bright-cyan", bg16 = "black", fg8 = "white", bg8 = "black" }
    header_accent = { fg = "#c49500", bg = "#073642", bold = true, fg16 = "bright-white", bg16 = "black", fg8 = "white", bg8 = "black" }
    good = { fg = "#879c00", fg16 = "green" }
    warn = { fg = "#c49500", bold = true, fg16 = "yellow" }
    bad = { fg = "#f0605a", bold = true, underline = true, fg16 = "bright-white", fg8 = "white" }
    accent = { fg = "#2aa198", fg16 = "cyan" }
    old_version = { fg = "#3f9cdc", fg16 = "bright-cyan", fg8 = "cyan" }
    new_version = { fg = "#e175a9", fg16 = "yellow", fg8 = "yellow" }
    key_hint = { fg = "#93a1a1", fg16 = "bright-cyan", fg8 = "white" }
    key_name = { fg = "#002b36", bg = "#2aa198", fg16 = "bright-black", bg16 = "cyan", fg8 = "black", bg8 = "white" }
    dialog = { fg = "#93a1a1", fg16 = "bright-cyan", fg8 = "white" }
    dialog_border = { fg = "#b58900", bold = true, fg16 = "yellow" }
    input = { fg = "#93a1a1", underline = true, fg16 = "bright-cyan", fg8 = "white" }
    chat_name = { fg = "#858ace", bold = true, fg16 = "bright-cyan", fg8 = "white" }
    selection = { reverse = true }
    """

    public static let solarizedLightSource = """
    # friday solarized light theme: Ethan Schoonover's palette on base3.
    # Colours: "default", a name such as "red" or "bright-black", "#rrggbb", or 0-255.
    # fg16/bg16: the slots of the Solarized 16-colour palette, for terminals set up with it.
    # Contrast: text 4.5:1 and borders 3:1 on base03/base3 at 8, 16, 256 and 24-bit colours
    # (a test computes it). Solarized's own accents sit below 4.5:1 on its bases, so this
    # theme uses tints a step further from the background, and on 8 and 16 colours the base
    # tones, with bold and underline carrying the meaning.
    name = "solarized-light"

    [roles]
    text = { fg = "#073642", fg16 = "black", fg8 = "black" }
    dim = { fg = "#586e75", fg16 = "bright-green", fg8 = "black" }
    title = { fg = "#1f73ad", bold = true, fg16 = "black", fg8 = "black" }
    border = { fg = "#7f8f8f", fg16 = "bright-green", fg8 = "black" }
    focus_border = { fg = "#289b92", bold = true, fg16 = "bright-green", fg8 = "black" }
    header = { fg = "#556a71", bg = "#eee8d5", bold = true, fg16 = "black", bg16 = "white", fg8 = "black", bg8 = "white" }
    header_accent = { fg = "#9b3911", bg = "#eee8d5", bold = true, fg16 = "black", bg16 = "white", fg8 = "black", bg8 = "white" }
    good = { fg = "#647300", fg16 = "bright-green", fg8 = "black" }
    warn = { fg = "#8c6a00", bold = true, fg16 = "bright-green", fg8 = "black" }
    bad = { fg = "#d52724", bold = true, underline = true, fg16 = "black", fg8 = "black" }
    accent = { fg = "#1e726c", fg16 = "bright-green", fg8 = "black" }
    old_version = { fg = "#1f73ad", fg16 = "bright-green", fg8 = "black" }
    new_version = { fg = "#cb2c79", fg16 = "black", fg8 = "black" }
    key_hint = { fg = "#073642", fg16 = "black", fg8 = "black" }
    key_name = { fg = "#fdf6e3", bg = "#1f73ad", fg16 = "bright-white", bg16 = "bright-black", fg8 = "white", bg8 = "black" }
    dialog = { fg = "#073642", fg16 = "black", fg8 = "black" }
    dialog_border = { fg = "#cb4b16", bold = true, fg16 = "bright-green", fg8 = "black" }
    input = { fg = "#073642", underline = true, fg16 = "black", fg8 = "black" }
    chat_name = { fg = "#6166c0", bold = true, fg16 = "black", fg8 = "black" }
    selection = { reverse = true }
    """

    public static let highContrastSource = """
    # friday high contrast theme: bright colours and bold, for glare and low vision.
    # Colours: "default", a name such as "red" or "bright-black", "#rrggbb", or 0-255.
    # fg8/bg8, fg16/bg16: what a role is on 8 and 16 colours, where the 256 would land on a
    # colour below 4.5:1 (3:1 for borders) against the background (a test computes it).
    name = "high-contrast"

    [roles]
    text = { fg = "bright-white" }
    dim = { fg = "white" }
    title = { fg = "bright-yellow", bold = true }
    border = { fg = "white" }
    focus_border = { fg = "bright-yellow", bold = true }
    header = { fg = "black", bg = "bright-white", bold = true }
    header_accent = { fg = "black", bg = "bright-yellow", bold = true }
    good = { fg = "bright-green", bold = true }
    warn = { fg = "bright-yellow", bold = true }
    bad = { fg = "bright-red", bold = true, underline = true, fg8 = "white", bg8 = "red" }
    accent = { fg = "bright-cyan", bold = true }
    old_version = { fg = "bright-cyan", bold = true }
    new_version = { fg = "bright-magenta", bold = true, fg8 = "white" }
    key_hint = { fg = "bright-white" }
    key_name = { fg = "black", bg = "bright-yellow" }
    dialog = { fg = "bright-white" }
    dialog_border = { fg = "bright-yellow", bold = true }
    input = { fg = "bright-white", underline = true }
    chat_name = { fg = "bright-green", bold = true }
    selection = { reverse = true }
    """

    /// Every built-in theme, by name, with what it is for (`friday themes`).
    public static let builtIn: [(name: String, about: String, source: String)] = [
        ("default", "dark background, the default", defaultSource),
        ("light", "light background", lightSource),
        ("solarized-dark", "Solarized on its dark base", solarizedDarkSource),
        ("solarized-light", "Solarized on its light base", solarizedLightSource),
        ("high-contrast", "bright colours and bold, for glare and low vision", highContrastSource),
        ("monochrome", "attributes only: no colour (NO_COLOR)", monochromeSource),
    ]

    /// A built-in theme by name.
    public static func named(_ name: String) -> Theme? {
        builtIn.first { $0.name == name }.flatMap { try? Theme.parse($0.source, file: "<built-in \($0.name)>") }
    }

    public static let standard: Theme = (try? Theme.parse(defaultSource, file: "<built-in default>")) ?? Theme(name: "plain", styles: [:])
    public static let monochrome: Theme = (try? Theme.parse(monochromeSource, file: "<built-in monochrome>")) ?? Theme(name: "plain", styles: [:])

    /// Reads a theme file's text. Errors carry the file and line.
    public static func parse(_ text: String, file: String) throws(ThemeError) -> Theme {
        let table: TOMLTable
        if let p = TOMLGuard.problem(in: text) { throw ThemeError(file: file, line: p.line, message: p.message) }
        do { table = try TOMLTable(string: text) } catch let e as TOMLParseError {
            throw ThemeError(file: file, line: Int(e.source.begin.line), message: e.description)
        } catch { throw ThemeError(file: file, line: nil, message: "\(error)") }
        var theme = Theme(name: table["name"]?.string ?? "unnamed", styles: Theme.standardStylesForMissing)
        for key in table.keys where key != "name" && key != "roles" {
            throw ThemeError(file: file, line: lineOf(key: key, in: text), message: "unknown key \"\(key)\"; a theme has \"name\" and a [roles] table")
        }
        if let n = table["name"], n.string == nil {
            throw ThemeError(file: file, line: lineOf(key: "name", in: text), message: "\"name\" must be a string")
        }
        guard let roles = table["roles"]?.table else {
            throw ThemeError(file: file, line: nil, message: "missing [roles] table; expected lines such as  bad = { fg = \"red\", bold = true }")
        }
        let known = Dictionary(uniqueKeysWithValues: Role.allCases.map { ($0.key, $0) })
        for key in roles.keys {
            let line = lineOf(key: key, in: text)
            guard let role = known[key] else {
                let hint = didYouMean(key, among: Array(known.keys)).map { " (did you mean \"\($0)\"?)" } ?? ""
                throw ThemeError(file: file, line: line, message: "unknown role \"\(key)\"\(hint)")
            }
            var style = Style()
            if let s = roles[key]?.string {
                guard let c = TermColor(parsing: s) else { throw ThemeError(file: file, line: line, message: badColor(s)) }
                style.fg = c
            } else if let t = roles[key]?.table {
                for attr in t.keys {
                    switch attr {
                    case "fg", "bg", "fg16", "bg16", "fg8", "bg8":
                        guard let s = t[attr]?.string else { throw ThemeError(file: file, line: line, message: "\(key).\(attr) must be a string colour") }
                        guard let c = TermColor(parsing: s) else { throw ThemeError(file: file, line: line, message: "\(key).\(attr): " + badColor(s)) }
                        switch attr {
                        case "fg": style.fg = c
                        case "bg": style.bg = c
                        case "fg16": style.fg16 = c
                        case "bg16": style.bg16 = c
                        case "fg8": style.fg8 = c
                        default: style.bg8 = c
                        }
                    case "bold", "dim", "underline", "reverse":
                        guard let b = t[attr]?.bool else { throw ThemeError(file: file, line: line, message: "\(key).\(attr) must be true or false") }
                        switch attr {
                        case "bold": style.bold = b
                        case "dim": style.dim = b
                        case "underline": style.underline = b
                        default: style.reverse = b
                        }
                    default:
                        let hint = didYouMean(attr, among: ["fg", "bg", "fg16", "bg16", "fg8", "bg8", "bold", "dim", "underline", "reverse"]).map { " (did you mean \"\($0)\"?)" } ?? ""
                        throw ThemeError(file: file, line: line, message: "unknown attribute \"\(attr)\" in \(key)\(hint)")
                    }
                }
            } else {
                throw ThemeError(file: file, line: line, message: "\(key) must be a colour string or a table such as { fg = \"red\", bold = true }")
            }
            theme.styles[role] = style
        }
        return theme
    }

    static let standardStylesForMissing: [Role: Style] = [:]

    private static func badColor(_ s: String) -> String {
        "\"\(s)\" is not a colour; use \"default\", a name (red, bright-black, …), \"#rrggbb\" or 0-255"
    }

    /// The 1-based line on which `key = ` first appears.
    static func lineOf(key: String, in text: String) -> Int? {
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let t = line.drop(while: { $0 == " " || $0 == "\t" })
            if t.hasPrefix(key) {
                let rest = t.dropFirst(key.count).drop(while: { $0 == " " || $0 == "\t" })
                if rest.hasPrefix("=") { return i + 1 }
            }
        }
        return nil
    }
}

/// A theme file that could not be used: where and what.
public struct ThemeError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var message: String
    public init(file: String, line: Int?, message: String) { self.file = file; self.line = line; self.message = message }
    public var description: String { line.map { "\(file):\($0): \(message)" } ?? "\(file): \(message)" }
}

