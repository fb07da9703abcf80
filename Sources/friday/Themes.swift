import ArgumentParser
import Foundation
import FridayCore
import FridayEngine
import FridayIntegrations
import FridayUI

/// `friday themes`: the built-in themes (and those in the theme folders); `--preview NAME`
/// prints a sample screen in that theme's colours.
struct Themes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the themes, or preview one on a sample screen.")

    @Option(help: "Print a sample screen (the demo, a held step) in this theme: a name or a .toml file.")
    var preview: String?

    @Option(help: "With --preview: 16777216 (24-bit, a direct-colour terminal), 256, 16 or 8 colours (what the theme looks like on each terminal).")
    var colors: Int = 256

    @Option(help: "With --preview: the screen size as COLSxROWS.")
    var size: String = "100x30"

    func validate() throws {
        guard [8, 16, 256, 16_777_216].contains(colors) else { throw ValidationError("--colors must be 16777216 (24-bit), 256, 16 or 8, got \(colors)") }
        let parts = size.lowercased().split(separator: "x")
        guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]), (20...400).contains(w), (5...200).contains(h) else {
            throw ValidationError("--size must look like 100x30 (20 to 400 columns, 5 to 200 rows), got '\(TerminalText.neutralise(size))'")
        }
    }

    func run() async throws {
        guard let name = preview else {
            for t in Theme.builtIn { Plain.out(TextLayout.left(t.name, 17) + t.about) }
            Plain.out("\nfriday demo --theme NAME, or a file: --theme my.toml (themes/*.toml are the built-in ones to copy);")
            Plain.out("themes in $XDG_CONFIG_HOME/friday/themes/NAME.toml are found by name. Preview: friday themes --preview NAME")
            return
        }
        let theme: Theme
        do { theme = try ThemeLoader.load(name) } catch { throw ExitWith(message: "\(error)") }
        let parts = size.lowercased().split(separator: "x")
        let (w, h) = (Int(parts[0])!, Int(parts[1])!)
        // The sample: the demo's bad canary, held by the judge at 5%.
        let settings = SimulationSettings(scenario: .badCanary, seed: 1)
        let base = SimulationSettings.fridayAfternoon
        let clock = ManualClock(base)
        let engine = Engine(deployID: "preview", clock: clock, router: SimulatedRouter(), metrics: SimulatedTraffic(settings: settings),
                            sources: [SimulatedDeploy(settings: settings)], judge: CanaryJudge(onFail: .pause))
        var t = 0.0
        while t <= 160 { clock.set(base + t); await engine.advance(to: base + t); t += 1 }
        let model = UIModel(deploy: await engine.state, now: base + 160, user: "you", judge: CanaryJudge(onFail: .pause), width: w, height: h, sourceLabel: "preview · \(theme.name)")
        FileHandle.standardOutput.write(Data(ANSIPreview.render(Screen.render(model), theme: theme, colors: colors).utf8))
    }
}
