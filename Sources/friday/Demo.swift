import ArgumentParser
import Foundation
import FridayCore
import FridayEngine
import FridayIntegrations
import FridayTerminal
import FridayUI

/// `friday demo`: the whole story on the built-in simulator, no set-up.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Watch a simulated deploy: pipeline, canary steps, metrics and teammates.",
        discussion: """
        Keys: p promote, P promote to 100%, space pause/resume, r revert, R retry, m say, \
        tab focus, j/k scroll, ? help, q quit.
        """
    )

    @Option(help: ArgumentHelp("What the simulated deploy does: \(Scenario.allCases.map(\.rawValue).joined(separator: ", ")).", valueName: "name"),
            completion: .list(Scenario.allCases.map(\.rawValue)))
    var scenario: String = "good"

    @Option(help: "Seed of the simulation: the same seed gives the same events.")
    var seed: UInt64 = 1

    @Option(help: "How many times faster than real time the simulation runs.")
    var speed: Double = 1

    @Option(help: "A theme name (default, monochrome, or one in themes/ or $XDG_CONFIG_HOME/friday/themes) or a path to a .toml file.")
    var theme: String?

    @Option(help: "Pin the layout: grid, stacked or compact (default: by size, held steady while the size flickers).")
    var layout: LayoutKind?

    @Flag(help: "Draw with plain ASCII characters (boxes, bars, sparklines) whatever the locale.")
    var ascii = false

    @Option(help: "Your name in the team log (as attach and board take it; default: $USER).")
    var name: String?

    /// The old spelling of --name, still taken.
    @Option(help: .hidden)
    var user: String?

    @Flag(help: "Leave the mouse to the terminal (no click to focus, no wheel scrolling).")
    var noMouse = false

    @Flag(help: "Print the event stream as JSON lines, as fast as possible, instead of the dashboard.")
    var headless = false

    @Option(help: "With --headless: stop after this many simulated seconds if the deploy has not finished.")
    var duration: Double = 3600

    @Flag(help: "Print the screen as it would look at --at seconds, as plain text.")
    var dump = false

    @Option(help: "With --dump: simulated seconds since the start.")
    var at: Double = 60

    @Option(help: "With --dump: the screen size as COLSxROWS.")
    var size: String = "120x40"

    func validate() throws {
        guard Scenario(rawValue: scenario) != nil else {
            throw ValidationError("unknown scenario '\(scenario)'; choose one of: \(Scenario.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard speed > 0, speed <= 1000 else { throw ValidationError("--speed must be above 0 and at most 1000, got \(speed)") }
        guard InputRange.seconds.contains(duration) else { throw ValidationError("--duration must be 0 to 2592000 seconds (30 days), got \(duration)") }
        guard InputRange.seconds.contains(at) else { throw ValidationError("--at must be 0 to 2592000 seconds (30 days), got \(at)") }
        if dump, parseSize() == nil { throw ValidationError("--size must look like 120x40, got '\(size)'") }
        if headless && dump { throw ValidationError("choose one of --headless and --dump") }
    }

    func parseSize() -> (Int, Int)? {
        let parts = size.lowercased().split(separator: "x")
        guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]), (1...1000).contains(w), (1...1000).contains(h) else { return nil }
        return (w, h)
    }

    var settings: SimulationSettings { SimulationSettings(scenario: Scenario(rawValue: scenario)!, seed: seed) }
    var userName: String { name ?? user ?? osUserName() }

    func makeEngine(clock: any EngineClock) -> Engine {
        let s = settings
        return Engine(deployID: "demo-\(s.scenario.rawValue)-\(s.seed)", clock: clock, router: SimulatedRouter(),
                      metrics: SimulatedTraffic(settings: s), sources: [SimulatedDeploy(settings: s)], judge: CanaryJudge())
    }

    func run() async throws {
        if headless { return await runHeadless() }
        if dump { return await runDump() }
        let settings = UserSettings.load()
        let chosen: Theme
        do { chosen = try ThemeLoader.load(theme ?? settings.theme ?? "default") } catch { throw ExitWith(message: "\(error)") }
        let userName = name ?? user ?? settings.name ?? self.userName
        let base = Timestamp(seconds: Date().timeIntervalSince1970.rounded(.down))
        let clock = ScaledClock(base: base, speed: speed)
        let engine = makeEngine(clock: clock)
        let label = "demo · \(scenario)" + (speed == 1 ? "" : " · \(format1(speed))x")
        let outcome = await Dashboard(link: LocalLink(engine: engine, user: userName), theme: chosen, user: userName, sourceLabel: label, ascii: ascii, layout: layout ?? settings.layout, bell: settings.bell ?? true,
                                    mouse: !noMouse && (settings.mouse ?? true), zone: UserSettings.clockZone(settings)).run()
        switch outcome {
        case .quit: break
        case let .signal(sig): throw ExitCode(128 + sig)
        case let .failed(message): throw ExitWith(message: message)
        }
    }

    /// Runs simulated time as fast as possible, printing each event as a JSON line.
    func runHeadless() async {
        let base = SimulationSettings.fridayAfternoon
        let clock = ManualClock(base)
        let engine = makeEngine(clock: clock)
        let out = LineWriter()
        await engine.addSink { e in out.write(e.jsonLine) }
        var t = 0.0
        while t <= duration {
            clock.set(base + t)
            await engine.advance(to: base + t)
            if await engine.state.isFinished { break }
            t += 1
        }
        out.flush()
    }

    /// Prints the dashboard as it would look `at` seconds in.
    func runDump() async {
        let base = SimulationSettings.fridayAfternoon
        let clock = ManualClock(base)
        let engine = makeEngine(clock: clock)
        var t = 0.0
        while t <= at {
            clock.set(base + t)
            await engine.advance(to: base + t)
            t += 1
        }
        let (w, h) = parseSize()!
        var model = UIModel(deploy: await engine.state, now: base + at, user: userName, glyphs: ascii ? .ascii : .unicode,
                            judge: CanaryJudge(), width: w, height: h, sourceLabel: "demo · \(scenario)")
        model.layout = layout
        for line in Screen.render(model).lines { Plain.out(line) }
    }
}

/// A failure that has already been explained to the user: print it, exit 1.
struct ExitWith: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Buffered standard output for long streams of lines.
final class LineWriter: @unchecked Sendable {
    private let lock = Lock()
    private var buffer: [UInt8] = []

    func write(_ line: String) {
        lock.withLock {
            buffer.append(contentsOf: line.utf8)
            buffer.append(0x0A)
            if buffer.count >= 1 << 16 { flushLocked() }
        }
    }

    func flush() { lock.withLock { flushLocked() } }

    private func flushLocked() {
        var off = 0
        while off < buffer.count {
            let n = buffer[off...].withUnsafeBytes { Foundation.write(1, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            off += n
        }
        buffer.removeAll(keepingCapacity: true)
    }
}
