import Foundation
import FridayCore
import FridayUI

/// Finds a theme by name or path: a path is read as it is; a name is looked for in
/// `$XDG_CONFIG_HOME/friday/themes` and `./themes`, then among the built-in themes.
enum ThemeLoader {
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

    static func load() -> UserConfig {
        let file = path()
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return UserConfig() }
        let (config, warnings) = UserConfig.parse(text, file: file)
        for w in warnings { FileHandle.standardError.write(Data("friday: warning: \(TerminalText.neutralise(w))\n".utf8)) }
        Keymap.install(config.keys)
        return config
    }
}
