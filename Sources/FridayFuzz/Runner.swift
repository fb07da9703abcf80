import Foundation
import FridayCore
import Synchronization

/// A seeded, structure-aware fuzzer that runs in-process, for where libFuzzer is not at hand
/// and for the short deterministic run in the test suite: it mutates the target's seeds with
/// byte edits, the seeds' own words and edge values, and splices of two seeds.
public struct FuzzRunner {
    public struct Report: Sendable, CustomStringConvertible {
        public var target: FuzzTarget
        public var executions: Int
        public var seconds: Double
        public var slowestMilliseconds: Double
        public var slowestInput: [UInt8]
        public var description: String {
            "\(target.rawValue): \(executions) executions in \(String(format: "%.1f", seconds)) s "
                + "(\(Int(Double(executions) / max(seconds, 1e-9))) /s), 0 crashes, slowest \(String(format: "%.2f", slowestMilliseconds)) ms"
        }
    }

    public let target: FuzzTarget
    var rng: SeededGenerator
    var pool: [[UInt8]]
    let dictionary: [[UInt8]]
    public var maxLength = 8192

    public init(target: FuzzTarget, seed: UInt64) {
        self.target = target
        rng = SeededGenerator(seed: seed)
        pool = target.seeds
        dictionary = target.dictionary
    }

    mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(rng.next() % UInt64(n)) }

    /// One mutant: one to four edits of a seed (or of a mutant kept earlier).
    public mutating func mutant() -> [UInt8] {
        var b = pool[below(pool.count)]
        for _ in 0...below(4) {
            let at = below(b.count + 1)
            switch below(8) {
            case 0 where !b.isEmpty: b[min(at, b.count - 1)] ^= UInt8(1) << UInt8(below(8))
            case 1 where !b.isEmpty: b[min(at, b.count - 1)] = UInt8(truncatingIfNeeded: rng.next())
            case 2, 3: b.insert(contentsOf: dictionary[below(dictionary.count)], at: at)
            case 4 where !b.isEmpty:
                let n = min(b.count - min(at, b.count - 1), 1 + below(16))
                b.removeSubrange(min(at, b.count - 1)..<(min(at, b.count - 1) + n))
            case 5 where !b.isEmpty:
                let from = below(b.count), n = min(b.count - from, 1 + below(64))
                b.insert(contentsOf: b[from..<(from + n)], at: at)
            case 6:
                // A run of digits becomes an edge value.
                if let d = b.indices.dropFirst(at).first(where: { (0x30...0x39).contains(b[$0]) }) {
                    var end = d
                    while end < b.count, (0x30...0x39).contains(b[end]) || b[end] == 0x2E { end += 1 }
                    let edges = ["0", "-1", "1e309", "18446744073709551616", "9223372036854775808", "4294967296", "0.0000001", "257", "101"]
                    b.replaceSubrange(d..<end, with: Array(edges[below(edges.count)].utf8))
                }
            default:
                // Splice: this one's start with another seed's end.
                let other = pool[below(pool.count)]
                b = Array(b.prefix(at)) + Array(other.suffix(other.count - below(other.count + 1)))
            }
        }
        if b.count > maxLength { b.removeLast(b.count - maxLength) }
        return b
    }

    /// Runs `runs` mutants (or until `seconds` pass). A broken property traps: the input is
    /// then written to `crashPath` (with its hex on standard error) by a signal handler.
    public mutating func run(runs: Int, seconds: Double = .infinity, crashPath: String? = nil) -> Report {
        let t0 = ContinuousClock.now
        var slowest: Duration = .zero, slowestInput: [UInt8] = []
        if let crashPath { CrashKeeper.install(path: crashPath, target: target.rawValue) }
        var n = 0
        while n < runs {
            let input = n < pool.count && n < target.seeds.count ? pool[n] : mutant()
            CrashKeeper.hold(input)
            let s = ContinuousClock.now
            target.run(input)
            let took = ContinuousClock.now - s
            if took > slowest { slowest = took; slowestInput = input }
            n += 1
            // Keep an occasional mutant to wander further from the seeds.
            if n % 997 == 0, pool.count < 512 { pool.append(input) }
            if n % 256 == 0, seconds.isFinite, ContinuousClock.now - t0 > .milliseconds(Int(seconds * 1000)) { break }
        }
        CrashKeeper.release()
        let took = (ContinuousClock.now - t0).components
        let secs = Double(took.seconds) + Double(took.attoseconds) / 1e18
        let ms = Double(slowest.components.seconds) * 1000 + Double(slowest.components.attoseconds) / 1e15
        return Report(target: target, executions: n, seconds: secs, slowestMilliseconds: ms, slowestInput: slowestInput)
    }
}

/// Keeps the input being run where a signal handler can write it out when the target traps
/// (SIGILL/SIGTRAP from a Swift trap, SIGSEGV, SIGBUS, SIGFPE, SIGABRT), and a watchdog that
/// writes it and aborts when one input runs for more than 10 s (a hang).
enum CrashKeeper {
    nonisolated(unsafe) static var buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: 1 << 20)
    static let length = Atomic<Int>(0)
    nonisolated(unsafe) static var pathC: UnsafeMutablePointer<CChar>?
    static let executions = Atomic<Int>(0)
    static let watching = Atomic<Bool>(false)
    static let watchdogStarted = Atomic<Bool>(false)
    // Written by the signal handler, which must not allocate: made here, once.
    nonisolated(unsafe) static let crashed = strdup("friday-fuzz: the target crashed; its input is kept\n")!
    nonisolated(unsafe) static let hung = strdup("friday-fuzz: one input ran for more than 10 s (a hang); its input is kept\n")!

    static func install(path: String, target: String) {
        pathC = strdup(path)
        for sig in [SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGFPE, SIGABRT] {
            signal(sig) { sig in
                CrashKeeper.save()
                _ = write(2, CrashKeeper.crashed, strlen(CrashKeeper.crashed))
                signal(sig, SIG_DFL)
                raise(sig)
            }
        }
        watching.store(true, ordering: .relaxed)
        if !watchdogStarted.exchange(true, ordering: .relaxed) {
            let t = Thread {
                var last = -1, still = 0
                while true {
                    sleep(1)
                    let now = executions.load(ordering: .relaxed)
                    if now == last, watching.load(ordering: .relaxed) { still += 1 } else { still = 0 }
                    last = now
                    if still >= 10 {
                        save()
                        _ = write(2, hung, strlen(hung))
                        abort()
                    }
                }
            }
            t.start()
        }
    }

    static func hold(_ input: [UInt8]) {
        let n = min(input.count, 1 << 20)
        input.withUnsafeBufferPointer { if let b = $0.baseAddress { buffer.update(from: b, count: n) } }
        length.store(n, ordering: .releasing)
        executions.add(1, ordering: .relaxed)
    }

    /// The runs are over: the watchdog stops counting (and the signal handlers stay, harmless).
    static func release() { watching.store(false, ordering: .relaxed) }

    /// Async-signal-safe: open, write, close.
    static func save() {
        guard let pathC else { return }
        let fd = open(pathC, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { return }
        _ = write(fd, buffer, length.load(ordering: .acquiring))
        close(fd)
    }
}
