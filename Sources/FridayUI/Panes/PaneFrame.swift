/// Draws a pane's box, focused or not, and returns the inside.
enum PaneFrame {
    static func draw(_ m: UIModel, into g: inout CellGrid, rect: Rect, pane: PaneID, focused: Bool, right: String? = nil) -> Rect {
        g.fill(rect)
        g.box(rect, title: title(pane, focused: focused, glyphs: m.glyphs), glyphs: m.glyphs, role: focused ? .focusBorder : .border, titleRole: .title, right: right)
        let inner = rect.inner
        return Rect(x: inner.x + 1, y: inner.y, width: inner.width - 2, height: inner.height)
    }

    /// A pane's title with its digit (1–4 focus it, as in lazygit); the focused one is marked
    /// in words too, so it shows in every theme and with NO_COLOR, not by a border colour alone.
    static func title(_ pane: PaneID, focused: Bool, glyphs: Glyphs) -> String {
        (focused ? glyphs.current + " " : "") + "\(pane.rawValue + 1) \(pane.title)"
    }
}
