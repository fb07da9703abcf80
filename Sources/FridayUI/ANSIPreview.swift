/// A screen as text with SGR colours, for `friday themes --preview`: each cell in its
/// role's style from `theme`, the colours brought down to `colors` (2^24, 256, 16 or 8) the
/// same way the terminal layer does (`Theme.resolve`). The cells' text is already neutralised by the panes.
public enum ANSIPreview {
    public static func render(_ grid: CellGrid, theme: Theme, colors: Int) -> String {
        var out = ""
        for y in 0..<grid.height {
            var last: String?
            for x in 0..<grid.width {
                let cell = grid[x, y]
                if cell.text.isEmpty { continue } // the right half of a wide character
                let sgr = sequence(theme.style(cell.role), colors: colors)
                if sgr != last { out += "\u{1b}[0" + sgr + "m"; last = sgr }
                out += cell.text
            }
            out += "\u{1b}[0m\n"
        }
        return out
    }

    /// The SGR parameters (after a reset) for `s` on a terminal of `colors` colours.
    public static func sequence(_ s: Style, colors: Int) -> String {
        var p = ""
        let d: (fg: Int32, dim: Bool, bg: Int32) = colors >= 8 ? Theme.resolve(s, colors: colors) : (fg: -1, dim: false, bg: -1)
        func colour(_ index: Int32, background: Bool) {
            guard index >= 0 else { return }
            if colors >= 1 << 24, index >= 8 {
                p += (background ? ";48;2;" : ";38;2;") + "\(index >> 16 & 0xFF);\(index >> 8 & 0xFF);\(index & 0xFF)"
                return
            }
            if colors >= 256, index >= 8 || colors < 1 << 24 { p += background ? ";48;5;\(index)" : ";38;5;\(index)"; return }
            let i = Int(index)
            p += i < 8 ? ";\((background ? 40 : 30) + i)" : ";\((background ? 100 : 90) + i - 8)"
        }
        if s.bold { p += ";1" }
        if s.dim || d.dim { p += ";2" }
        if s.underline { p += ";4" }
        if s.reverse { p += ";7" }
        colour(d.fg, background: false)
        colour(d.bg, background: true)
        return p
    }
}
