/// Draws a pane's box, focused or not, and returns the inside.
enum PaneFrame {
    static func draw(_ m: UIModel, into g: inout CellGrid, rect: Rect, pane: PaneID, focused: Bool, right: String? = nil) -> Rect {
        g.fill(rect)
        g.box(rect, title: pane.title, glyphs: m.glyphs, role: focused ? .focusBorder : .border, titleRole: .title, right: right)
        let inner = rect.inner
        return Rect(x: inner.x + 1, y: inner.y, width: inner.width - 2, height: inner.height)
    }
}
