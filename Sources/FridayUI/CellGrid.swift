import FridayCore

/// What a cell means, not how it looks: a theme maps roles to colours and attributes.
public enum Role: UInt8, Sendable, CaseIterable {
    case text, dim, title, border, focusBorder, header, headerAccent
    case good, warn, bad, accent, oldVersion, newVersion
    case keyHint, keyName, dialog, dialogBorder, input, chatName, selection

    public var key: String {
        switch self {
        case .focusBorder: return "focus_border"
        case .headerAccent: return "header_accent"
        case .oldVersion: return "old_version"
        case .newVersion: return "new_version"
        case .keyHint: return "key_hint"
        case .keyName: return "key_name"
        case .dialogBorder: return "dialog_border"
        case .chatName: return "chat_name"
        default: return "\(self)"
        }
    }
}

/// One terminal cell: a grapheme (empty for the right half of a wide one) and its role.
public struct Cell: Sendable, Equatable {
    public var text: String
    public var role: Role
    public init(_ text: String = " ", _ role: Role = .text) { self.text = text; self.role = role }
    public static let blank = Cell()
    /// The right half of a wide character.
    public static let continuation = Cell("", .text)
}

/// A rectangle of the screen.
public struct Rect: Sendable, Equatable {
    public var x, y, width, height: Int
    public init(x: Int, y: Int, width: Int, height: Int) { self.x = x; self.y = y; self.width = max(0, width); self.height = max(0, height) }
    public var maxX: Int { x + width }
    public var maxY: Int { y + height }
    /// The inside of a box drawn on this rectangle.
    public var inner: Rect { Rect(x: x + 1, y: y + 1, width: width - 2, height: height - 2) }
    public var isEmpty: Bool { width <= 0 || height <= 0 }
    public func contains(x px: Int, y py: Int) -> Bool { px >= x && px < maxX && py >= y && py < maxY }
}

/// The screen as a grid of cells. Panes draw here; the terminal writes what changed.
///
/// All text put into the grid goes through `TerminalText.neutralise`, so outside text
/// can never emit an escape sequence, and wide characters take two cells (never split
/// at an edge: a wide character that would not fit is replaced by a space).
public struct CellGrid: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public private(set) var cells: [Cell]

    public init(width: Int, height: Int) {
        self.width = max(0, width)
        self.height = max(0, height)
        cells = Array(repeating: .blank, count: self.width * self.height)
    }

    public subscript(x: Int, y: Int) -> Cell {
        get { cells[y * width + x] }
        set { cells[y * width + x] = newValue }
    }

    public mutating func fill(_ r: Rect, _ cell: Cell = .blank) {
        // A rectangle off the grid (a pinned layout on a tiny terminal) fills nothing.
        let y0 = max(0, r.y), y1 = min(height, r.maxY), x0 = max(0, r.x), x1 = min(width, r.maxX)
        guard y0 < y1, x0 < x1 else { return }
        for y in y0..<y1 {
            for x in x0..<x1 { self[x, y] = cell }
        }
    }

    /// Writes `text` at (x, y), clipped to `limit` columns (and the grid). Returns columns used.
    /// Text that is cut ends in `…` (its last column), so a reader knows there is more;
    /// `mark: false` is for what is cut on purpose (a bar, a field scrolled under a cursor).
    @discardableResult
    public mutating func put(_ text: String, x: Int, y: Int, role: Role = .text, limit: Int? = nil, mark: Bool = true) -> Int {
        guard y >= 0, y < height, x < width else { return 0 }
        let end = min(width, limit.map { x + max(0, $0) } ?? width)
        var col = x
        var lastStart: Int?
        for ch in TerminalText.neutralise(text) {
            let w = CharWidth.of(ch)
            if w == 0 {
                // Attach combining marks to the previous cell.
                if col > 0, col - 1 < width, col - 1 >= x { self[col - 1, y].text.append(ch) }
                continue
            }
            if col + w > end {
                if w == 2, col < end, col >= 0 {
                    self[col, y] = Cell(mark ? "…" : " ", role)
                    col += 1
                } else if mark, let at = lastStart, at >= 0, at < width {
                    // The last character shown gives its place to the mark (both halves of a wide one).
                    if at + 1 < width, self[at + 1, y] == .continuation { self[at + 1, y] = Cell(" ", role) }
                    self[at, y] = Cell("…", self[at, y].role)
                }
                break
            }
            if col >= 0 {
                self[col, y] = Cell(String(ch), role)
                if w == 2 { self[col + 1, y] = .continuation }
            }
            lastStart = col
            col += w
        }
        return col - x
    }

    /// Draws a box with a title on its top edge.
    public mutating func box(_ r: Rect, title: String, glyphs: Glyphs, role: Role = .border, titleRole: Role = .title, right: String? = nil) {
        guard r.width >= 2, r.height >= 2 else { return }
        let g = glyphs
        for x in (r.x + 1)..<(r.maxX - 1) {
            put(g.horizontal, x: x, y: r.y, role: role)
            put(g.horizontal, x: x, y: r.maxY - 1, role: role)
        }
        for y in (r.y + 1)..<(r.maxY - 1) {
            put(g.vertical, x: r.x, y: y, role: role)
            put(g.vertical, x: r.maxX - 1, y: y, role: role)
        }
        put(g.topLeft, x: r.x, y: r.y, role: role)
        put(g.topRight, x: r.maxX - 1, y: r.y, role: role)
        put(g.bottomLeft, x: r.x, y: r.maxY - 1, role: role)
        put(g.bottomRight, x: r.maxX - 1, y: r.maxY - 1, role: role)
        let used = title.isEmpty ? 0 : put(" \(title) ", x: r.x + 1, y: r.y, role: titleRole, limit: r.width - 2)
        if let right, !right.isEmpty {
            let w = CharWidth.of(right) + 2
            let at = r.maxX - 1 - w
            if at > r.x + 1 + used { put(" \(right) ", x: at, y: r.y, role: .dim, limit: w) }
        }
    }

    /// Replaces every non-ASCII character with an ASCII stand-in, for terminals without UTF-8.
    public mutating func foldToASCII() {
        for i in cells.indices {
            let t = cells[i].text
            if t.isEmpty { cells[i].text = " "; continue }
            if t.utf8.count == 1 { continue }
            cells[i].text = CellGrid.asciiStandIns[t] ?? "?"
        }
    }

    static let asciiStandIns: [String: String] = [
        "×": "x", "≤": "<", "≥": ">", "→": ">", "…": "~", "·": "-", "▲": "!", "✓": "v", "✗": "x", "●": "*",
        "○": "o", "▶": ">", "─": "-", "│": "|", "┌": "+", "┐": "+", "└": "+", "┘": "+", "█": "#", "░": ".",
        "▏": "|", "–": "-", "—": "-", "↓": "v", "↑": "^", "▁": "_", "▂": ".", "▃": "-", "▄": "=", "▅": "+", "▆": "*", "▇": "#",
    ]

    /// Each row as text (wide characters once, trailing spaces kept off).
    public var lines: [String] {
        (0..<height).map { y in
            var s = ""
            for x in 0..<width { s += self[x, y].text }
            while s.last == " " { s.removeLast() }
            return s
        }
    }

    /// Each row's roles, one letter per cell, for checking colours in tests.
    public func roleLine(_ y: Int) -> [Role] { (0..<width).map { self[$0, y].role } }
}
