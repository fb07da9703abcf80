/// The characters the screen is drawn with: Unicode, or plain ASCII for terminals
/// without a UTF-8 locale.
public struct Glyphs: Sendable, Equatable {
    public var horizontal, vertical, topLeft, topRight, bottomLeft, bottomRight: String
    public var barFull, barEmpty: String
    public var spark: [String]
    public var ok, failed, running, pending, current, arrow, ellipsis, bullet, warning: String
    /// Where the next typed character goes in a text field.
    public var cursor = "▏"

    public static let unicode = Glyphs(
        horizontal: "─", vertical: "│", topLeft: "┌", topRight: "┐", bottomLeft: "└", bottomRight: "┘",
        barFull: "█", barEmpty: "░", spark: ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"],
        ok: "✓", failed: "✗", running: "●", pending: "○", current: "▶", arrow: "→", ellipsis: "…", bullet: "·", warning: "▲")

    public static let ascii = Glyphs(
        horizontal: "-", vertical: "|", topLeft: "+", topRight: "+", bottomLeft: "+", bottomRight: "+",
        barFull: "#", barEmpty: ".", spark: ["_", ".", "-", "=", "+", "*", "#", "@"],
        ok: "+", failed: "x", running: "*", pending: "o", current: ">", arrow: "->", ellipsis: "~", bullet: "-", warning: "!", cursor: "|")
}
