import Foundation

/// A small mutual-exclusion lock for state shared with non-async code.
public final class Lock: @unchecked Sendable {
    private let m = NSLock()
    public init() {}
    @inline(__always) public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        m.lock(); defer { m.unlock() }
        return try body()
    }
}
