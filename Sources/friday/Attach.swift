import ArgumentParser
import Foundation
import FridayCore
import FridayEngine
import FridayServe
import FridayUI
import Synchronization

/// `friday attach [DEPLOY]`: a dashboard of your own on a served engine: your name, your
/// size, your dialogs and your input; `q` detaches and the deploy goes on.
struct Attach: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Attach a dashboard of your own to a running deploy (q detaches; the deploy goes on).")

    @OptionGroup var target: EngineTarget

    @Option(help: "viewer (watch and chat) or operator (also promote, pause, revert).")
    var role: Wire.Role = .operator

    @Option(help: "Theme name or path.")
    var theme: String?

    @Option(help: "Pin the layout: grid, stacked or compact.")
    var layout: LayoutKind?

    @Flag(help: "Draw with plain ASCII.")
    var ascii = false

    @Flag(help: "Leave the mouse to the terminal (no click to focus, no wheel scrolling).")
    var noMouse = false

    func run() async throws {
        try await attachDashboard(to: try target.address(), name: target.name, role: role, token: target.token,
                                  theme: theme, ascii: ascii, layout: layout, mouse: !noMouse)
    }
}

extension Wire.Role: ExpressibleByArgument {}
extension Wire.StopTraffic: ExpressibleByArgument {}

/// How a command finds a running engine: a deploy id, a deploy file, a socket, or TCP.
struct EngineTarget: ParsableArguments {
    @Argument(help: "The deploy: its id, its deploy file (.toml) or the engine's socket (.sock). Default: ./friday.toml.", completion: .file(extensions: ["toml", "sock"]))
    var deploy: String?

    @Option(help: "The deploy's event log (the engine's socket is beside it).")
    var log: String?

    @Option(help: "Connect over TCP to HOST:PORT; the token comes from $FRIDAY_TOKEN.")
    var tcp: String?

    @Option(help: "Your name in the team log (default: $USER).")
    var name: String?

    var token: String? { ProcessInfo.processInfo.environment["FRIDAY_TOKEN"].flatMap { $0.isEmpty ? nil : $0 } }

    func address() throws -> ServeAddress {
        if let tcp {
            let parts = tcp.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, let p = Int(parts[1]), (1...65535).contains(p) else {
                throw ExitWith(message: "--tcp \(TerminalText.neutralise(tcp)): expected HOST:PORT with a port 1 to 65535")
            }
            return .tcp(host: String(parts[0]), port: p)
        }
        if let log { return .unix(try socketPath(forLog: log)) }
        let given = deploy ?? "friday.toml"
        if given.hasSuffix(".sock") { return .unix(given) }
        if given.hasSuffix(".toml") || FileManager.default.fileExists(atPath: given) {
            let cfg = try loadConfig(given)
            return .unix(try socketPath(forLog: defaultLogPath(for: cfg)))
        }
        guard given.count <= 128, given.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil || "._-".unicodeScalars.contains($0)) }) else {
            throw ExitWith(message: "\(TerminalText.neutralise(String(given.prefix(80)))): not a deploy id (letters, digits, . _ -), a deploy file or a socket")
        }
        return .unix(try socketPath(forLog: defaultLogPath(forID: given)))
    }
}

/// The name to give the engine: --name, else the person running this (`osUserName`), kept to
/// the letters the protocol takes; never "you" (it is written into everyone's team log).
func clientName(_ given: String?) -> String {
    func kept(_ raw: String) -> String {
        String(String.UnicodeScalarView(raw.unicodeScalars.filter { $0.properties.isAlphabetic || $0.properties.numericType != nil || "._-".unicodeScalars.contains($0) }).prefix(Wire.maxNameLength))
    }
    if let given, !kept(given).isEmpty { return kept(given) }
    let own = kept(osUserName())
    return own.isEmpty ? "uid-\(getuid())" : own
}

/// Connects a dashboard to a served engine and runs it until the person detaches.
func attachDashboard(to address: ServeAddress, name givenName: String?, role: Wire.Role, token: String?, theme givenTheme: String?, ascii: Bool, layout givenLayout: LayoutKind?, mouse: Bool = true,
                     fromBoard: Bool = false, action: UIAction? = nil) async throws {
    let settings = UserSettings.load()
    let name = givenName ?? settings.name
    let theme = givenTheme ?? settings.theme ?? "default"
    let layout = givenLayout ?? settings.layout
    let chosen: Theme
    do { chosen = try ThemeLoader.load(theme) } catch { throw ExitWith(message: "\(error)") }
    let client: EngineClient
    do {
        client = try await EngineClient.connect(address, hello: Wire.Hello(name: clientName(name), role: role, kind: .dashboard, token: token))
    } catch {
        Plain.err("friday: \(TerminalText.neutralise(error.description))")
        throw ExitCode(VerbExit.unreachable)
    }
    let w = client.welcome
    let link = RemoteLink(client)
    let outcome = await Dashboard(link: link, theme: chosen, user: w.who, sourceLabel: w.label, ascii: ascii, layout: layout, role: w.role, bell: (w.bell ?? true) && (settings.bell ?? true),
                                mouse: mouse && (settings.mouse ?? true), zone: UserSettings.clockZone(settings), escapeReturns: fromBoard, action: action).run()
    switch outcome {
    case .quit where fromBoard: break
    case .quit:
        // Over TCP the way back is the same address (the deploy's id alone looks for a socket here).
        var via = ""
        if case let .tcp(host, port) = address { via = " --tcp \(host.contains(":") ? "[\(host)]" : host):\(port)" }
        let id = TerminalText.neutralise(w.deploy)
        Plain.out("friday: detached from \(id); the deploy goes on.  back: friday attach\(via)\(via.isEmpty ? " " + id : "")  ·  end it: friday stop\(via)\(via.isEmpty ? " " + id : "") --traffic leave|pause|revert")
    case let .signal(sig): throw ExitCode(128 + sig)
    case let .failed(message): throw ExitWith(message: message)
    }
}

/// A served engine, over the attach protocol.
final class RemoteLink: DashboardLink {
    let client: EngineClient
    let clock: any EngineClock
    var judge: CanaryJudge { client.welcome.judge ?? CanaryJudge() }
    var detaches: Bool { true }
    private let tasks = Mutex<[Task<Void, Never>]>([])
    private let commands: AsyncStream<Command>.Continuation
    private let commandStream: AsyncStream<Command>

    init(_ client: EngineClient) {
        self.client = client
        // The engine's clock, carried on from the welcome (simulated deploys can run faster).
        clock = ScaledClock(base: client.welcome.now, speed: client.welcome.speed)
        (commandStream, commands) = AsyncStream<Command>.makeStream()
    }

    func start(_ mailbox: Mailbox) async -> DeployState? {
        let client = self.client
        let stream = commandStream
        let started = [
            Task {
                var closing: String?
                for await m in client.messages {
                    switch m {
                    case let .event(e): mailbox.post(.engine(e))
                    case let .snapshot(s): mailbox.post(.resync(s))
                    case let .closing(r): closing = r
                    default: break
                    }
                }
                mailbox.postEnd(TerminalText.neutralise("the engine closed the connection" + (closing.map { ": \($0)" } ?? "")))
            },
            // One command at a time, in key order; the engine's refusal goes to the footer.
            Task {
                for await c in stream {
                    // The whole command: a take-out names its candidate (dropped, it was a revert of the deploy).
                    switch await client.command(c.action, text: c.text, candidate: c.candidate) {
                    case .accepted, .ingested: break
                    case let .refused(why): mailbox.post(.notice("can't \(c.action.rawValue): \(why)", isError: true))
                    case let .lost(why): mailbox.post(.notice("not sent: \(why)", isError: true))
                    }
                }
            },
        ]
        tasks.withLock { $0 = started }
        return client.snapshot
    }

    func submit(_ c: Command) { commands.yield(c) }

    func resync(_ mailbox: Mailbox) { client.send(.resync) }

    func finish() async {
        commands.finish()
        for t in tasks.withLock({ $0 }) { t.cancel() }
        await client.close()
    }
}

func defaultLogPath(forID id: String) -> String { "\(defaultLogFolder())/\(id).jsonl" }
