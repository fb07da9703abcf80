/// `6.1%`, `0.25%`, `12%`.
public func percentText(_ fraction: Double) -> String {
    let p = fraction * 100
    if p >= 10 { return "\(SafeNumber.int(p.rounded()))%" }
    if p >= 1 { return "\(format1(p))%" }
    return "\(format2(p))%"
}

public func format1(_ x: Double) -> String {
    let v = (x * 10).rounded() / 10
    let i = SafeNumber.int(v.rounded(.towardZero))
    let f = SafeNumber.int((abs(v - Double(i)) * 10).rounded())
    return (v < 0 && i == 0 ? "-" : "") + "\(i).\(f)"
}

public func format2(_ x: Double) -> String {
    let v = (x * 100).rounded() / 100
    let i = SafeNumber.int(v.rounded(.towardZero))
    let f = SafeNumber.int((abs(v - Double(i)) * 100).rounded())
    return (v < 0 && i == 0 ? "-" : "") + "\(i)." + (f < 10 ? "0" : "") + "\(f)"
}

/// The closest candidate by edit distance, if it is close enough to be a typo.
public func didYouMean(_ word: String, among candidates: [String]) -> String? {
    func distance(_ a: [Character], _ b: [Character]) -> Int {
        var prev = Array(0...b.count)
        for i in 1...max(1, a.count) where !a.isEmpty {
            var cur = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(1, b.count) where !b.isEmpty {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            prev = cur
        }
        return a.isEmpty ? b.count : prev[b.count]
    }
    let w = Array(word)
    let best = candidates.map { ($0, distance(w, Array($0))) }.min { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
    guard let best, best.1 <= max(2, word.count / 3) else { return nil }
    return best.0
}
