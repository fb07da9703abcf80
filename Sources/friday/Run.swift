import ArgumentParser
import Foundation
import FridayCore
import FridayEngine
import FridayIntegrations
import FridayUI

/// `friday run friday.toml`: runs the deploy a file describes, with a durable event log.
/// A deploy whose log exists resumes where it was: same step, same time left in the pause,
/// the router's weights reconciled with the log's.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run (or resume) the deploy a deploy file describes.")

    @Argument(help: "The deploy file.")
    var file: String?

    @Option(help: "The deploy file (same as the argument).")
    var config: String?

    @Option(help: "The event log (default: $XDG_STATE_HOME/friday/deploys/ID.jsonl).")
    var log: String?

    @Option(help: "How many times faster than real time simulated parts run.")
    var speed: Double = 1

    @Flag(help: "Print events as JSON lines, running time as fast as possible, instead of the dashboard.")
    var headless = false

    @Option(help: "With --headless: stop after this many seconds (simulated, or real with a real router) if the deploy has not finished.")
    var duration: Double = 3600

    @Option(help: "Theme name or path.")
    var theme: String = "default"

    @Option(help: "Your name in the team log.")
    var user: String?

    @Option(help: "Pin the layout: grid, stacked or compact (default: by size, held steady while the size flickers).")
    var layout: LayoutKind?

    @Flag(help: "Draw with plain ASCII.")
    var ascii = false

    func validate() throws {
        guard speed > 0, speed <= 1000 else { throw ValidationError("--speed must be above 0 and at most 1000") }
        guard InputRange.seconds.contains(duration) else { throw ValidationError("--duration must be 0 to 2592000 seconds (30 days), got \(duration)") }
        if file != nil && config != nil && file != config { throw ValidationError("give the deploy file once: as the argument or as --config") }
    }

    func run() async throws {
        let path = config ?? file ?? "friday.toml"
        var cfg = try loadConfig(path)
        let logPath = log ?? defaultLogPath(for: cfg)
        let eventLog: EventLog
        let recovery: EventLog.Recovery
        do { (eventLog, recovery) = try EventLog.open(path: logPath) } catch { throw ExitWith(message: error.description) }
        defer { eventLog.close() }
        // Any event at all (deploy.started or not) means the log goes on from its last line.
        let resumed = recovery.state.lastSeq >= 0
        if recovery.state.phase != .idle, recovery.state.deployID != cfg.id {
            throw ExitWith(message: "\(logPath) holds deploy \(TerminalText.neutralise(recovery.state.deployID)), not \(cfg.id); give another --log")
        }
        if let outcome = recovery.state.outcome {
            // A finished deploy is history: its weights are never applied again.
            let when = recovery.state.finishedAt.map { " at \($0.rfc3339)" } ?? ""
            print("friday: deploy \(cfg.id) already finished\(when): \(outcome.rawValue). Nothing was sent to the router.")
            print("  see it: friday replay \(logPath)   ·   deploy again: give the new deploy its own id (deploy.id) or --log")
            return
        }
        if resumed {
            // After a restart the simulator draws new traffic, not the same figures again.
            cfg.simulation.seed = cfg.simulation.seed &+ UInt64(recovery.state.lastSeq + 1) &* 0x9E37_79B9_7F4A_7C15
        }
        let wall = Timestamp(seconds: Date().timeIntervalSince1970.rounded(.down))
        // Simulated time can run as fast as it likes; a real router and real metrics run in real time.
        var simulatedOnly = false
        if case .simulator = cfg.router { simulatedOnly = true }
        let fast = headless && simulatedOnly
        let base = fast ? (recovery.state.lastEventAt.map { $0 + 1 } ?? wall) : max(wall, recovery.state.lastEventAt ?? wall)
        let manual = ManualClock(base)
        let clock: any EngineClock = fast ? manual : ScaledClock(base: base, speed: simulatedOnly ? speed : 1)
        let fatal = FatalBox()
        let (router, metrics, sources) = cfg.providers()
        let engine = Engine(deployID: cfg.id, clock: clock, router: router, metrics: metrics,
                            sources: sources, judge: cfg.judge, log: eventLog, onFatal: { fatal.set($0) })
        let out = LineWriter()
        if headless { await engine.addSink { out.write($0.jsonLine) } }
        if resumed { await engine.restore(recovery.state) }
        if let broken = recovery.brokenPath, recovery.setAside > 0 {
            await engine.ingest(.logRecovered(setAside: recovery.setAside, keptIn: broken))
            if headless { FileHandle.standardError.write(Data("friday: \(recovery.setAside) damaged line(s) at the end of \(logPath) set aside in \(broken)\n".utf8)) }
        }
        if resumed { await engine.resumeAfterRestart() }

        if fast {
            var t = 0.0
            while t <= duration, await !engine.state.isFinished, fatal.message == nil {
                manual.set(base + t)
                await engine.advance(to: base + t)
                t += 1
            }
            out.flush()
        } else if headless {
            let driver = Task { await engine.run() }
            let started = ContinuousClock.now
            while ContinuousClock.now - started < .seconds(duration), await !engine.state.isFinished, fatal.message == nil {
                try? await Task.sleep(for: .milliseconds(200))
                out.flush()
            }
            driver.cancel()
            out.flush()
        } else {
            var label = "run · \(cfg.id)" + (speed == 1 ? "" : " · \(format1(speed))x")
            if !cfg.simulatedParts.isEmpty, !simulatedOnly { label += " · SIMULATED " + cfg.simulatedParts.joined(separator: ", ") }
            let chosen: Theme
            do { chosen = try ThemeLoader.load(theme) } catch { throw ExitWith(message: "\(error)") }
            let name = user ?? ProcessInfo.processInfo.environment["USER"].flatMap { $0.isEmpty ? nil : $0 } ?? "you"
            switch await Dashboard(engine: engine, clock: clock, theme: chosen, user: name, sourceLabel: label, ascii: ascii, fatal: fatal, layout: layout).run() {
            case .quit: break
            case let .signal(sig): throw ExitCode(128 + sig)
            case let .failed(message): throw ExitWith(message: message)
            }
        }
        if let m = fatal.message { throw ExitWith(message: "the engine stopped: \(m)") }
    }
}

/// Holds the engine's fatal error for the screen loop and the command.
final class FatalBox: @unchecked Sendable {
    private let lock = Lock()
    private var stored: String?
    var message: String? { lock.withLock { stored } }
    func set(_ m: String) { lock.withLock { if stored == nil { stored = m } } }
}
