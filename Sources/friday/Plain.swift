import Foundation
import FridayCore

/// The one way out for text a person reads outside the dashboard: standard output and
/// standard error. Every line goes through `TerminalText.neutralise` (control characters,
/// C1, escape sequences and bidi controls shown visibly), so a deploy file, a shared log,
/// an engine's answer or an argument can never write to the terminal's title, clipboard or
/// colours. JSON output does not come here: `JSONValue` escapes the same characters as `\u`.
enum Plain {
    /// To standard output, as `print` would (a newline after unless `terminator` says otherwise).
    static func out(_ text: String, terminator: String = "\n") {
        write(1, TerminalText.neutraliseLines(text) + terminator)
    }

    /// To standard error, with a newline.
    static func err(_ text: String) {
        write(2, TerminalText.neutraliseLines(text) + (text.hasSuffix("\n") ? "" : "\n"))
    }

    private static func write(_ fd: Int32, _ s: String) {
        var bytes = Array(s.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeMutableBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            if n <= 0 { return }
            off += n
        }
        bytes.removeAll()
    }
}
