/// `6.1%`, `0.25%`, `12%`.
public func percentText(_ fraction: Double) -> String {
    let p = fraction * 100
    if p >= 10 { return "\(Int(p.rounded()))%" }
    if p >= 1 { return "\(format1(p))%" }
    return "\(format2(p))%"
}

public func format1(_ x: Double) -> String {
    let v = (x * 10).rounded() / 10
    let i = Int(v.rounded(.towardZero))
    let f = Int((abs(v - Double(i)) * 10).rounded())
    return (v < 0 && i == 0 ? "-" : "") + "\(i).\(f)"
}

public func format2(_ x: Double) -> String {
    let v = (x * 100).rounded() / 100
    let i = Int(v.rounded(.towardZero))
    let f = Int((abs(v - Double(i)) * 100).rounded())
    return (v < 0 && i == 0 ? "-" : "") + "\(i)." + (f < 10 ? "0" : "") + "\(f)"
}
