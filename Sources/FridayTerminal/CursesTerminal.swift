import CNcursesw
import FridayUI
import Glibc

/// The one place that talks to ncurses: draws a `CellGrid` (only the cells that changed,
/// one `doupdate` per frame) and reads keys.
///
/// Promises: the locale is UTF-8 (falling back to C.UTF-8) or `glyphs` is ASCII; Escape
/// answers in ~25 ms unless the user set `ESCDELAY`; `restore()` gives the terminal back
/// (normal screen, cursor shown) and is safe to call twice.
public final class CursesTerminal: Terminal {
    public let glyphs: Glyphs
    private var theme: Theme
    private var previous: CellGrid?
    private var pairs: [Int64: Int16] = [:]
    private var attrsByRole: [Role: (attr_t, Int16)] = [:]
    private var restored = false
    private let window: UnsafeMutablePointer<WINDOW>
    private let useColor: Bool
    private let noColor: Bool
    private let mouse: Bool

    /// Takes over the terminal. `noColor` keeps attributes only. Throws when there is no
    /// usable terminal (no TTY, unknown `TERM`), before anything was changed.
    /// Installs the C library's `wcwidth` (in the current locale) as the UI's character widths.
    public static func useCLibraryWidths() { CharWidth.useTerminal { Int(shim_wcwidth($0)) } }
    /// The C library's width of one code point (-1: not printable).
    public static func cLibraryWidth(_ v: UInt32) -> Int { Int(shim_wcwidth(v)) }

    public init(theme: Theme, noColor: Bool, mouse: Bool = false) throws(TerminalUnavailable) {
        guard isatty(0) == 1, isatty(1) == 1 else {
            throw TerminalUnavailable(message: "standard input and output must be a terminal")
        }
        // A terminal that cannot place the cursor cannot show a dashboard: say so before
        // ncurses draws a blank screen with one frozen line.
        let termName = getenv("TERM").map { String(cString: $0) } ?? ""
        if ["", "dumb", "unknown"].contains(termName) {
            throw TerminalUnavailable(message: "TERM=\(termName.isEmpty ? "(unset)" : termName) cannot place the cursor, which a dashboard needs; set TERM (xterm-256color, tmux-256color, screen); for plain output: demo or run --headless (JSON lines), replay --summary")
        }
        setlocale(LC_ALL, "")
        var utf8 = shim_is_utf8_locale() != 0
        if !utf8, setlocale(LC_CTYPE, "C.UTF-8") != nil { utf8 = shim_is_utf8_locale() != 0 }
        glyphs = utf8 ? .unicode : .ascii
        // Cells are placed by the C library's wcwidth, as ncurses places them.
        if utf8 { CursesTerminal.useCLibraryWidths() }
        // 10 ms, as tmux 3.5 chose for escape-time: fast enough for Esc, slow enough for
        // escape sequences split by a local terminal. ESCDELAY in the environment wins.
        if getenv("ESCDELAY") == nil { set_escdelay(10) }
        shim_install_crash_handlers()
        guard shim_start() == 1 else {
            let term = getenv("TERM").map { String(cString: $0) } ?? "(unset)"
            throw TerminalUnavailable(message: "cannot use the terminal type TERM=\(term)")
        }
        window = shim_stdscr()
        cbreak()
        noecho()
        nonl()
        keypad(window, true)
        nodelay(window, true)
        curs_set(0)
        // Bracketed paste: a paste arrives between ESC[200~ and ESC[201~ and is read as text.
        shim_write_stdout("\u{1b}[?2004h")
        // The mouse as SGR reports (1006), presses only (1000): read by `readEscape`, not by
        // ncurses, so a report can never be taken for keys.
        self.mouse = mouse
        // ncurses would match the terminfo's kmous (xterm: ESC [ <, linux: ESC [ M) itself and
        // hand the rest of the report over as keys (a click typed "0;5;3M"; a legacy report's
        // button byte, a space, paused the deploy): the reports are read here, whole.
        _ = keyok(KEY_MOUSE, false)
        if mouse { shim_write_stdout("\u{1b}[?1000h\u{1b}[?1006h") }
        self.noColor = noColor
        useColor = !noColor && has_colors()
        if useColor {
            start_color()
            use_default_colors()
        }
        self.theme = noColor ? theme.withoutColor : theme
        buildStyles()
    }

    deinit { restore() }

    /// Draws with another theme from the next frame (the palette's `theme`).
    public func setTheme(_ t: Theme) {
        theme = noColor ? t.withoutColor : t
        buildStyles()
        invalidate()
    }

    public var size: (width: Int, height: Int) { (Int(shim_maxx(window)), Int(shim_maxy(window))) }

    private func buildStyles() {
        attrsByRole = [:]
        pairs = [:]
        var nextPair: Int16 = 1
        for role in Role.allCases {
            let s = theme.style(role)
            var a = shim_a_normal()
            if s.bold { a |= shim_a_bold() }
            if s.dim { a |= shim_a_dim() }
            if s.underline { a |= shim_a_underline() }
            if s.reverse { a |= shim_a_reverse() }
            var pair: Int16 = 0
            // The terminal's real capability: 2^24 (direct colour), 256, 16, 8 (a theme may
            // give a 16- or 8-colour fallback for a role whose colours are the default).
            let d = Theme.resolve(s, colors: Int(shim_colors()))
            if useColor, d.fg != -1 || d.bg != -1 {
                let (fg, bg) = (d.fg, d.bg)
                if d.dim { a |= shim_a_dim() }
                let key = Int64(fg) << 32 | Int64(UInt32(bitPattern: bg))
                if let p = pairs[key] { pair = p } else if Int(nextPair) < Int(shim_color_pairs()) {
                    init_extended_pair(Int32(nextPair), fg, bg)
                    pairs[key] = nextPair
                    pair = nextPair
                    nextPair += 1
                }
            }
            attrsByRole[role] = (a, pair)
        }
    }


    public func present(_ grid: CellGrid) {
        let full = previous.map { $0.width != grid.width || $0.height != grid.height } ?? true
        if full { werase(window) }
        var cc = cchar_t()
        var wbuf: [wchar_t] = [0, 0, 0, 0, 0, 0, 0, 0]
        for y in 0..<grid.height {
            for x in 0..<grid.width {
                let cell = grid[x, y]
                if !full, let p = previous, p[x, y] == cell { continue }
                if cell.text.isEmpty { continue } // right half of a wide character
                let (attr, pair) = attrsByRole[cell.role] ?? (shim_a_normal(), 0)
                var n = 0
                for u in cell.text.unicodeScalars where n < 7 { wbuf[n] = wchar_t(bitPattern: u.value); n += 1 }
                wbuf[n] = 0
                setcchar(&cc, wbuf, attr, pair, nil)
                // Writing the bottom-right cell scrolls on some terminals; mvwadd_wch returns ERR there but draws it.
                mvwadd_wch(window, Int32(y), Int32(x), &cc)
            }
        }
        previous = grid
        wnoutrefresh(window)
        doupdate()
    }

    /// Forgets the last frame so the next one is drawn whole (after a resize).
    public func invalidate() {
        previous = nil
        clearok(window, true)
    }

    public func pollKey() -> Key? {
        var ch: wint_t = 0
        let r = wget_wch(window, &ch)
        if r == ERR { return nil }
        if r == KEY_CODE_YES {
            let k = Int32(ch)
            switch k {
            case shim_key_resize(): invalidate(); return .resize
            case KEY_UP: return .up
            case KEY_DOWN: return .down
            case KEY_LEFT: return .left
            case KEY_RIGHT: return .right
            case KEY_PPAGE: return .pageUp
            case KEY_NPAGE: return .pageDown
            case KEY_HOME: return .home
            case KEY_END: return .end
            case KEY_BACKSPACE: return .backspace
            case KEY_BTAB: return .backTab
            case KEY_ENTER: return .enter
            case KEY_MOUSE:
                // Should kmous still be matched: the report's rest up to its final M or m, ignored.
                var n = 0
                while let c = nextChar(waiting: 20), n < 32 { n += 1; if c == 0x4D || c == 0x6D { break } }
                return .sequence
            default: return .other(Int(k))
            }
        }
        switch ch {
        case 27: return readEscape()
        case 9: return .tab
        case 10, 13: return .enter
        case 127, 8: return .backspace
        default:
            guard let u = Unicode.Scalar(UInt32(ch)), ch >= 32 else { return .other(Int(ch)) }
            return .char(Character(u))
        }
    }

    /// The next raw character, waiting up to `ms` for it (a sequence split across reads).
    private func nextChar(waiting ms: Int32) -> UInt32? {
        var ch: wint_t = 0
        var r = wget_wch(window, &ch)
        if r == ERR, ms > 0 {
            _ = shim_wait2(0, -1, ms)
            r = wget_wch(window, &ch)
        }
        if r == KEY_CODE_YES {
            // A key code (a resize, an arrow) is not part of a sequence: give it back, so
            // the ESC before it stays a lone Esc and the key is not lost.
            ungetch(Int32(ch))
            return nil
        }
        if r == ERR { return nil }
        return UInt32(ch)
    }

    /// After an ESC: a lone Esc, a bracketed paste, or a sequence read whole and ignored
    /// (so an ESC inside typed text never closes a field and lets the rest act as keys).
    private func readEscape() -> Key {
        guard let first = nextChar(waiting: 0) else { return .escape }
        switch first {
        case 0x5B: // CSI: parameters and intermediates, then a final byte 0x40–0x7E
            var params: [UInt32] = []
            while let c = nextChar(waiting: 20) {
                if (0x40...0x7E).contains(c) {
                    if c == 0x7E, params == [0x32, 0x30, 0x30] { return readPaste() }
                    // A legacy (X10) mouse report, ESC [ M and three bytes (button, column, row):
                    // read whole and ignored, so its bytes never act as keys.
                    if c == 0x4D, params.isEmpty {
                        for _ in 0..<3 { _ = nextChar(waiting: 20) }
                        return .sequence
                    }
                    if mouse, params.first == 0x3C, let u = Unicode.Scalar(c),
                       let ev = Mouse.parseSGR(String(String.UnicodeScalarView(params.compactMap(Unicode.Scalar.init))), final: Character(u)) {
                        return .mouse(ev)
                    }
                    return .sequence
                }
                params.append(c)
                if params.count > 64 { return .sequence }
            }
            return .sequence
        case 0x5D, 0x50, 0x5F, 0x5E, 0x58: // OSC, DCS, APC, PM, SOS: until BEL or ESC \
            var n = 0
            while let c = nextChar(waiting: 20), n < 1 << 20 {
                n += 1
                if c == 0x07 { break }
                if c == 0x1B { _ = nextChar(waiting: 20); break }
            }
            return .sequence
        case 0x4F: // SS3 and one character
            _ = nextChar(waiting: 20)
            return .sequence
        default: // Alt+key and the like
            return .sequence
        }
    }

    /// Reads a bracketed paste up to ESC[201~ (at most 64 kB kept), as text.
    private func readPaste() -> Key {
        var out = String.UnicodeScalarView()
        var pending: [UInt32] = []
        let end: [UInt32] = [0x1B, 0x5B, 0x32, 0x30, 0x31, 0x7E]
        var count = 0
        while let c = nextChar(waiting: 200) {
            pending.append(c)
            if end.starts(with: pending) {
                if pending.count == end.count { break }
                continue
            }
            for p in pending {
                count += 1
                guard count <= 65_536, let u = Unicode.Scalar(p) else { continue }
                // Newlines, tabs and other controls become spaces: a paste is never Enter.
                out.append(p < 0x20 || p == 0x7F || (0x80..<0xA0).contains(p) ? " " : u)
            }
            pending.removeAll()
        }
        return .paste(String(out))
    }

    /// Waits for input on the terminal or on `wakeFD`, at most `milliseconds`.
    /// Returns true if the terminal has input.
    public func wait(wakeFD: Int32, milliseconds: Int) -> (key: Bool, wake: Bool) {
        let r = shim_wait2(0, wakeFD, Int32(milliseconds))
        return (r & 1 != 0, r & 2 != 0)
    }

    /// Rings the terminal bell (tmux marks the window).
    public func bell() { _ = beep() }

    public func restore() {
        guard !restored else { return }
        restored = true
        curs_set(1)
        let alternate = shim_has_alt_screen() != 0
        endwin()
        shim_write_stdout("\u{1b}[?2004l")
        if mouse { shim_write_stdout("\u{1b}[?1006l\u{1b}[?1000l") }
        // TERM=linux, vt100 …: no alternate screen, so clear what friday drew.
        if !alternate { shim_write_stdout("\u{1b}[H\u{1b}[2J") }
    }
}

/// Why the full-screen dashboard could not start.
public struct TerminalUnavailable: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
