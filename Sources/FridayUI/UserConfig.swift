import FridayCore
import TOMLKit

/// The person's own settings, `$XDG_CONFIG_HOME/friday/config.toml`:
///
///     theme = "solarized-dark"
///     name = "ana"            # the name others see (letters, digits, ._-)
///     layout = "stacked"      # grid, stacked or compact; unset: by size
///     bell = false            # no bell on a failed verdict or a hold
///     time_zone = "Europe/Berlin"  # the clock and the team log's times; "local"; default UTC
///     mouse = false           # no mouse (as --no-mouse)
///     [store]
///     url = "postgres://friday@db:5432/friday"   # the shared history, when a deploy file has none
///     [keys]
///     promote = "w"           # a key per action: one character, or space, enter, tab,
///     revert = ["x", "X"]     # up, down, left, right, pgup, pgdn, home, end
///
/// Nothing here is fatal to the screen: each bad line is a warning with the file and line,
/// and that setting (for keys: the whole [keys] table) stays at its default. A bad
/// `[store]` is kept as `storeProblem`: a command that would use the store (a deploy's lock
/// among them) refuses to start with it, rather than go on without the lock it was meant to take.
public struct UserConfig: Sendable, Equatable {
    public var theme: String?
    public var name: String?
    public var layout: LayoutKind?
    public var bell: Bool?
    /// A zone's name as given (checked against the time-zone database by the program), and its line.
    public var timeZone: String?
    public var timeZoneLine: Int?
    public var mouse: Bool?
    public var keys: [UIAction: [Key]] = [:]
    /// `[store] url`, checked for its form (the password may still come from $PGPASSWORD).
    public var store: String?
    /// Why `[store]` could not be used (`file:line: …`), when it is there and wrong.
    public var storeProblem: String?
    public init() {}

    /// The config key of each action in [keys].
    public static let keyNames: [(String, UIAction)] = [
        ("promote", .promote), ("promote_full", .promoteFull), ("pause", .togglePause), ("revert", .revert), ("retry", .retry),
        ("cancel_stage", .cancelStage), ("open", .open), ("say", .say), ("focus", .focusNext), ("scroll_up", .scrollUp),
        ("scroll_down", .scrollDown), ("page_up", .pageUp), ("page_down", .pageDown), ("oldest", .oldest), ("live", .live),
        ("zoom", .zoom), ("palette", .palette), ("search", .search), ("next_match", .nextMatch), ("previous_match", .previousMatch), ("help", .help), ("quit", .quit),
    ]

    /// Reads a config; returns it with a warning per problem (`file:line: …`).
    public static func parse(_ text: String, file: String) -> (UserConfig, [String]) {
        var c = UserConfig()
        var warnings: [String] = []
        func line(_ key: String) -> String { Theme.lineOf(key: key, in: text).map { "\(file):\($0)" } ?? file }
        let table: TOMLTable
        if let p = TOMLGuard.problem(in: text) { return (c, ["\(file):\(p.line): not valid TOML (\(p.message)); friday starts on its defaults"]) }
        do { table = try TOMLTable(string: text) } catch let e as TOMLParseError {
            return (c, ["\(file):\(e.source.begin.line): not valid TOML (\(TerminalText.neutralise(e.description))); friday starts on its defaults"])
        } catch { return (c, ["\(file): not valid TOML; friday starts on its defaults"]) }
        let known = ["theme", "name", "layout", "bell", "time_zone", "mouse", "store", "keys"]
        for key in table.keys.sorted() where !known.contains(key) {
            warnings.append("\(line(key)): unknown setting \"\(TerminalText.neutralise(key))\"\(hint(key, known)); settings are \(known.joined(separator: ", "))")
        }
        if let v = table["theme"] {
            if let s = v.string, !s.isEmpty, s.count <= 200, TerminalText.isPlain(s) { c.theme = s } else { warnings.append("\(line("theme")): theme must be a theme's name or a .toml path") }
        }
        if let v = table["name"] {
            if let s = v.string, !s.isEmpty, s.count <= Wire.maxNameLength,
               s.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic || $0.properties.numericType != nil || "._-".unicodeScalars.contains($0) }) {
                c.name = s
            } else { warnings.append("\(line("name")): name must be 1 to \(Wire.maxNameLength) letters, digits, '.', '_' or '-'") }
        }
        if let v = table["layout"] {
            if let s = v.string, let k = LayoutKind(rawValue: s) { c.layout = k } else { warnings.append("\(line("layout")): layout must be grid, stacked or compact") }
        }
        if let v = table["bell"] {
            if let b = v.bool { c.bell = b } else { warnings.append("\(line("bell")): bell must be true or false") }
        }
        if let v = table["time_zone"] {
            if let s = v.string, !s.isEmpty, s.count <= 64, s.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil || "/_+-".unicodeScalars.contains($0)) }) {
                c.timeZone = s
                c.timeZoneLine = Theme.lineOf(key: "time_zone", in: text)
            } else { warnings.append("\(line("time_zone")): time_zone must be a zone's name such as \"Europe/Berlin\", \"UTC\" or \"local\"") }
        }
        if let v = table["mouse"] {
            if let b = v.bool { c.mouse = b } else { warnings.append("\(line("mouse")): mouse must be true or false") }
        }
        if let v = table["store"] {
            let form = "[store] takes url = \"postgres://USER@HOST:PORT/DATABASE\""
            var problem: String?
            if let t = v.table, let u = t["url"]?.string, t.keys.allSatisfy({ $0 == "url" }) {
                do throws(StoreAddressError) { _ = try StoreAddress(parsing: u); c.store = u } catch {
                    problem = "\(line("url")): store.url: \(error.message)"
                }
            } else {
                problem = "\(file): \(form)"
            }
            if let p = problem {
                c.storeProblem = p
                warnings.append(p + "; commands that use the store refuse to start until it is fixed")
            }
        }
        if let v = table["keys"] {
            guard let keys = v.table else {
                warnings.append("\(line("keys")): keys must be a table ([keys])")
                return (c, warnings)
            }
            var chosen: [UIAction: [Key]] = [:]
            var bad = false
            for name in keys.keys.sorted() {
                guard let action = keyNames.first(where: { $0.0 == name })?.1 else {
                    warnings.append("\(line(name)): [keys] has no action \"\(TerminalText.neutralise(name))\"\(hint(name, keyNames.map(\.0))); actions are \(keyNames.map(\.0).joined(separator: ", "))")
                    bad = true; continue
                }
                let texts: [String]
                if let s = keys[name]?.string { texts = [s] } else if let a = keys[name]?.array, a.allSatisfy({ $0.string != nil }) { texts = a.compactMap(\.string) } else {
                    warnings.append("\(line(name)): keys.\(name) must be a key (\"n\") or a list of keys ([\"n\", \"N\"])"); bad = true; continue
                }
                var list: [Key] = []
                for t in texts {
                    if let k = Keymap.key(named: t) { list.append(k) } else {
                        warnings.append("\(line(name)): keys.\(name): \"\(TerminalText.neutralise(t))\" is not a key: one character, or space, enter, tab, up, down, left, right, pgup, pgdn, home, end")
                        bad = true
                    }
                }
                if list.isEmpty, !bad {
                    warnings.append("\(line(name)): keys.\(name) has no key: give at least one (leave it out for the default)")
                    bad = true
                }
                chosen[action] = list
            }
            // A key may do one thing: a conflict names both.
            if !bad {
                var owner: [Key: String] = [:]
                for b in Keymap.defaults {
                    for k in chosen[b.action] ?? b.keys {
                        let mine = keyNames.first { $0.1 == b.action }?.0 ?? b.action.rawValue
                        if let other = owner[k] {
                            warnings.append("\(line(mine)): keys.\(mine) and keys.\(other) are both \"\(Keymap.name(k))\": give one of them another key")
                            bad = true
                        }
                        owner[k] = mine
                    }
                }
            }
            if bad { warnings.append("\(file): [keys] not used (the default keys are): fix the lines above") } else { c.keys = chosen }
        }
        return (c, warnings)
    }
}

private func hint(_ word: String, _ candidates: [String]) -> String {
    didYouMean(word, among: candidates).map { " (did you mean \"\($0)\"?)" } ?? ""
}
