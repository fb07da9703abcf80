// friday-fuzz: the fuzz targets of friday's parsers.
//
//   friday-fuzz TARGET [--runs N] [--seconds S] [--seed N]   in-process, seeded (any build)
//   friday-fuzz TARGET --replay FILE...                       run saved inputs (regressions)
//   friday-fuzz TARGET --write-seeds DIR                      the seed corpus, for libFuzzer
//   FRIDAY_FUZZ_TARGET=TARGET friday-fuzz [libFuzzer flags]   libFuzzer, when built by scripts/fuzz
//                                                             (-sanitize=fuzzer, -DFRIDAY_LIBFUZZER)
import Foundation
import FridayFuzz

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data(("friday-fuzz: " + message + "\n").utf8))
    exit(2)
}

#if FRIDAY_LIBFUZZER
// Built by scripts/fuzz: libFuzzer's own main runs (linked first) and calls these; the
// target comes from FRIDAY_FUZZ_TARGET, and FRIDAY_FUZZ_SEEDS names a folder for its seeds.
let libFuzzerTarget: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["FRIDAY_FUZZ_TARGET"] ?? ""
    guard let t = FuzzTarget(rawValue: name) else { fail("set FRIDAY_FUZZ_TARGET to one of \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))") }
    return t
}()

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutableRawPointer) -> Int32 {
    if let dir = ProcessInfo.processInfo.environment["FRIDAY_FUZZ_SEEDS"] {
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (i, s) in libFuzzerTarget.seeds.enumerated() { _ = FileManager.default.createFile(atPath: "\(dir)/seed-\(i)", contents: Data(s)) }
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    libFuzzerTarget.run(size == 0 || data == nil ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

// Whichever `main` the linker kept, libFuzzer's driver runs when a target is named.
if ProcessInfo.processInfo.environment["FRIDAY_FUZZ_TARGET"] != nil {
    var argc = CommandLine.argc
    var argv = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzerTestOneInput(data, size) })
}
#endif

let all = Array(CommandLine.arguments.dropFirst())
guard let name = all.first, let target = FuzzTarget(rawValue: name) else {
    fail("give a target: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
}
let args = Array(all.dropFirst())
func option(_ flag: String) -> String? {
    guard let i = args.firstIndex(of: flag), i + 1 < args.count else { return nil }
    return args[i + 1]
}
if let dir = option("--write-seeds") {
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    for (i, s) in target.seeds.enumerated() { _ = FileManager.default.createFile(atPath: "\(dir)/seed-\(i)", contents: Data(s)) }
    print("\(target.seeds.count) seeds in \(dir)")
    exit(0)
}
if let i = args.firstIndex(of: "--replay") {
    let files = args[(i + 1)...]
    for f in files {
        guard let d = FileManager.default.contents(atPath: f) else { fail("cannot read \(f)") }
        target.run(Array(d))
    }
    print("\(target.rawValue): \(files.count) saved inputs, 0 crashes")
    exit(0)
}
guard let runs = Int(option("--runs") ?? "1000000"), runs > 0, runs <= 10_000_000_000 else { fail("--runs takes 1 to 10000000000") }
guard let seconds = Double(option("--seconds") ?? "inf"), seconds > 0 else { fail("--seconds takes a positive number") }
guard let seed = UInt64(option("--seed") ?? "1") else { fail("--seed takes a whole number 0 to 2^64-1") }
var runner = FuzzRunner(target: target, seed: seed)
let report = runner.run(runs: runs, seconds: seconds, crashPath: "friday-fuzz-crash-\(target.rawValue)-seed\(seed)")
print(report)
