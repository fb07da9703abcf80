import Foundation
import FridayCore
import FridayUI

/// Finds a theme by name or path: a path is read as it is; a name is looked for in
/// `$XDG_CONFIG_HOME/friday/themes` and `./themes`, then among the built-in themes.
enum ThemeLoader {
    /// The themes the palette offers: the built-in ones and the files beside the config and in ./themes.
    static func available() -> [String] {
        let env = ProcessInfo.processInfo.environment
        let config = env["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (env["HOME"].map { $0 + "/.config" } ?? "")
        var names = Theme.builtIn.map(\.name)
        for dir in [config + "/friday/themes", FileManager.default.currentDirectoryPath + "/themes"] {
            for f in ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted() where f.hasSuffix(".toml") {
                let n = String(f.dropLast(5))
                if TerminalText.isPlain(n), n.count <= 40, !n.contains(" "), !names.contains(n) { names.append(n) }
            }
        }
        return names
    }

    static func load(_ nameOrPath: String) throws -> Theme {
        let fm = FileManager.default
        if nameOrPath.contains("/") || nameOrPath.hasSuffix(".toml") {
            guard let text = try? String(contentsOfFile: nameOrPath, encoding: .utf8) else {
                throw ThemeError(file: nameOrPath, line: nil, message: "cannot read the theme file (does it exist?)")
            }
            return try Theme.parse(text, file: nameOrPath)
        }
        let env = ProcessInfo.processInfo.environment
        let config = env["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (env["HOME"].map { $0 + "/.config" } ?? "")
        let dirs = [config + "/friday/themes", fm.currentDirectoryPath + "/themes"]
        for dir in dirs {
            let path = dir + "/" + nameOrPath + ".toml"
            if let text = try? String(contentsOfFile: path, encoding: .utf8) { return try Theme.parse(text, file: path) }
        }
        if let t = Theme.named(nameOrPath) { return t }
        throw ThemeError(file: TerminalText.neutralise(nameOrPath), line: nil,
                         message: "no theme of that name in \(dirs.joined(separator: " or ")); built in: \(Theme.builtIn.map(\.name).joined(separator: ", ")) (friday themes lists them)")
    }
}

/// The person's config (`$XDG_CONFIG_HOME/friday/config.toml`, else `~/.config/friday/config.toml`),
/// read once before the screen starts: its warnings go to standard error with file and
/// line, and its keys are put in place. A missing file is the defaults.
enum UserSettings {
    static func path() -> String {
        let env = ProcessInfo.processInfo.environment
        let config = env["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (env["HOME"].map { $0 + "/.config" } ?? ".config")
        return config + "/friday/config.toml"
    }

    /// The config's `[store]` address (nil when it has none); a bad one is an error that
    /// names its file and line. Read without printing the config's other warnings again.
    static func storeAddress() throws -> StoreAddress? {
        guard let text = try? String(contentsOfFile: path(), encoding: .utf8) else { return nil }
        let (config, _) = UserConfig.parse(text, file: path())
        if let p = config.storeProblem { throw ExitWith(message: TerminalText.neutralise(p)) }
        guard let url = config.store else { return nil }
        do { return try StoreAddress(parsing: url, environment: ProcessInfo.processInfo.environment) } catch {
            throw ExitWith(message: "\(TerminalText.neutralise(path())): store.url: \(error.message)")
        }
    }

    static func load() -> UserConfig {
        let file = path()
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return UserConfig() }
        let (config, warnings) = UserConfig.parse(text, file: file)
        for w in warnings { Plain.err("friday: warning: \(TerminalText.neutralise(w))") }
        if let name = config.timeZone, zone(name) == nil {
            let at = config.timeZoneLine.map { "\(file):\($0)" } ?? file
            Plain.err("friday: warning: \(at): no time zone \"\(TerminalText.neutralise(name))\" (names as in /usr/share/zoneinfo, such as Europe/Berlin; or local, UTC); times stay in UTC")
        }
        Keymap.install(config.keys)
        return config
    }

    /// The zone the screen shows times in: the config's, else UTC.
    static func clockZone(_ config: UserConfig) -> ClockZone {
        config.timeZone.flatMap(zone) ?? .utc
    }

    /// A zone by name ("local" is this machine's), with its offset and short name at each time.
    static func zone(_ name: String) -> ClockZone? {
        let tz: TimeZone
        if name.lowercased() == "local" { tz = TimeZone.current } else if let z = TimeZone(identifier: name) { tz = z } else { return nil }
        if tz.identifier == "UTC" || tz.identifier == "GMT" { return .utc }
        return ClockZone(name: tz.identifier) { t in
            let d = Date(timeIntervalSince1970: t.seconds)
            let s = tz.secondsFromGMT(for: d)
            let abbr = tz.abbreviation(for: d) ?? ""
            // "GMT+1" and the like say less than the offset itself.
            let sign = s < 0 ? "-" : "+"
            let numeric = "\(sign)\(String(format: "%02d%02d", abs(s) / 3600, abs(s) % 3600 / 60))"
            return (s, abbr.isEmpty || abbr.hasPrefix("GMT") ? numeric : abbr)
        }
    }

}
