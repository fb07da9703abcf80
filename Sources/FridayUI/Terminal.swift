/// What the dashboard needs from a terminal. `CursesTerminal` is the real one; tests draw
/// with `Screen.render` into a `CellGrid` and read its lines (no terminal at all), or drive
/// the real binary in tmux.
public protocol Terminal: AnyObject {
    /// Columns and rows now.
    var size: (width: Int, height: Int) { get }
    /// Shows `grid`, writing only what changed since the last frame, in one write.
    func present(_ grid: CellGrid)
    /// The next key if one is waiting (never blocks).
    func pollKey() -> Key?
    /// Gives the terminal back as it was.
    func restore()
}
