/// Conversions that never trap: numbers come from files, logs and peers, and a Swift trap
/// is never how friday reports a bad one. Each door also checks its own documented range
/// (`InputRange`); these are the last line.
public enum SafeNumber {
    /// The nearest `Int` to a double, clamped to ±9e15 (NaN becomes 0).
    public static func int(_ d: Double) -> Int {
        guard d.isFinite else { return d.isNaN ? 0 : (d > 0 ? 9_000_000_000_000_000 : -9_000_000_000_000_000) }
        return Int(max(-9e15, min(9e15, d)))
    }

    /// A double that can be written to JSON: NaN becomes 0, infinities and values past ±1e15 are clamped.
    public static func finite(_ d: Double) -> Double {
        guard !d.isNaN else { return 0 }
        return max(-1e15, min(1e15, d))
    }
}

/// The documented ranges of numbers that reach friday from outside (deploy files, event
/// lines, metrics answers). Out of range is an error that names the value, never a sample.
public enum InputRange {
    /// A pause or a timeout: 0 s to 30 days.
    public static let seconds: ClosedRange<Double> = 0...2_592_000
    /// How long a stage took or the engine was down: 0 s to 10 years.
    public static let longSeconds: ClosedRange<Double> = 0...315_360_000
    /// Requests or errors in one sample window.
    public static let countPerWindow: ClosedRange<Int> = 0...1_000_000_000
    /// A latency in milliseconds: 0 to one hour.
    public static let latencyMs: ClosedRange<Double> = 0...3_600_000
    /// A sample window in seconds.
    public static let window: ClosedRange<Double> = 0.001...3600
    /// A request or error rate per second.
    public static let ratePerSecond: ClosedRange<Double> = 0...100_000_000
}
