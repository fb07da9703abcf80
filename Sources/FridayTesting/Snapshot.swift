import Foundation

/// Compares text with a snapshot file next to the test (`__Snapshots__/NAME.txt`).
/// `FRIDAY_RECORD=1` writes the file instead. A missing snapshot is a failure, so CI
/// never passes by recording.
public enum Snapshot {
    /// Returns nil when `text` matches, else a message with the first differing line.
    public static func check(_ text: String, named name: String, testFile: String = #filePath) -> String? {
        let dir = URL(fileURLWithPath: testFile).deletingLastPathComponent().appendingPathComponent("__Snapshots__")
        let url = dir.appendingPathComponent(name + ".txt")
        if ProcessInfo.processInfo.environment["FRIDAY_RECORD"] == "1" {
            try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try? text.write(to: url, atomically: true, encoding: .utf8)
            return nil
        }
        guard let expected = try? String(contentsOf: url, encoding: .utf8) else {
            return "no snapshot \(url.path); run with FRIDAY_RECORD=1 to record it, then review it"
        }
        if expected == text { return nil }
        let a = expected.split(separator: "\n", omittingEmptySubsequences: false)
        let b = text.split(separator: "\n", omittingEmptySubsequences: false)
        for i in 0..<max(a.count, b.count) {
            let x = i < a.count ? String(a[i]) : "<none>"
            let y = i < b.count ? String(b[i]) : "<none>"
            if x != y { return "snapshot \(name) differs at line \(i + 1):\nexpected: \(x)\nactual:   \(y)\n\nwhole screen:\n\(text)" }
        }
        return "snapshot \(name) differs"
    }
}
