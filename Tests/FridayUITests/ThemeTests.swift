import FridayUI
import XCTest

final class ThemeTests: XCTestCase {
    func error(_ text: String) -> String {
        do { _ = try Theme.parse(text, file: "mine.toml"); return "parsed" } catch { return error.description }
    }

    func testShippedThemesParseAndMatchTheCompiledInOnes() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../themes")
        let def = try String(contentsOf: dir.appendingPathComponent("default.toml"), encoding: .utf8)
        let mono = try String(contentsOf: dir.appendingPathComponent("monochrome.toml"), encoding: .utf8)
        XCTAssertEqual(try Theme.parse(def, file: "default.toml"), Theme.standard)
        XCTAssertEqual(try Theme.parse(mono, file: "monochrome.toml"), Theme.monochrome)
        XCTAssertEqual(Theme.standard.style(.bad), Style(fg: .indexed(203), bold: true))
        XCTAssertEqual(Theme.standard.withoutColor.style(.bad), Style(bold: true))
        XCTAssertEqual(Theme.standard.styles.count, 20, "every role is styled")
    }

    func testBadThemeFilesNameTheFileAndLine() {
        XCTAssertEqual(error("name = \"x\"\n[roles]\nbda = \"red\"\n"), "mine.toml:3: unknown role \"bda\" (did you mean \"bad\"?)")
        XCTAssertEqual(error("[roles]\ngood = \"grean\"\n"), "mine.toml:2: \"grean\" is not a colour; use \"default\", a name (red, bright-black, …), \"#rrggbb\" or 0-255")
        XCTAssertEqual(error("[roles]\n\ngood = { fg = \"red\", blod = true }\n"), "mine.toml:3: unknown attribute \"blod\" in good (did you mean \"bold\"?)")
        XCTAssertEqual(error("[roles]\ngood = { bold = \"yes\" }\n"), "mine.toml:2: good.bold must be true or false")
        XCTAssertTrue(error("[roles]\ngood = { fg = \"red\"\n").hasPrefix("mine.toml:2: "), error("[roles]\ngood = { fg = \"red\"\n"))
        XCTAssertEqual(error("name = \"x\"\ncolours = 1\n"), "mine.toml:2: unknown key \"colours\"; a theme has \"name\" and a [roles] table")
        XCTAssertEqual(error("name = \"x\"\n"), "mine.toml: missing [roles] table; expected lines such as  bad = { fg = \"red\", bold = true }")
    }

    func testColoursParse() {
        XCTAssertEqual(TermColor(parsing: "default"), .terminalDefault)
        XCTAssertEqual(TermColor(parsing: "bright-black"), .indexed(8))
        XCTAssertEqual(TermColor(parsing: "#ff0000"), .indexed(196))
        XCTAssertEqual(TermColor(parsing: "#808080"), .indexed(244))
        XCTAssertEqual(TermColor(parsing: "42"), .indexed(42))
        XCTAssertNil(TermColor(parsing: "#ff00"))
    }

    func testOnEightAndSixteenColoursEachRoleKeepsItsMeaning() {
        func on(_ role: Role, _ colors: Int) -> (fg: Int16, bg: Int16, dim: Bool) {
            let st = Theme.standard.style(role)
            func d(_ c: TermColor) -> (Int16, Bool) { if case let .indexed(n) = c { let x = TermColor.downsample(n, colors: colors); return (x.index, x.dim) }; return (-1, false) }
            let f = d(st.fg), b = d(st.bg)
            return (f.0, b.0, f.1)
        }
        // 8 colours (TERM=xterm, linux): 0 black 1 red 2 green 3 yellow 4 blue 5 magenta 6 cyan 7 white.
        XCTAssertEqual(on(.header, 8).fg, 7); XCTAssertEqual(on(.header, 8).bg, 0, "the header's dark blue is black, not magenta or yellow")
        XCTAssertEqual(on(.headerAccent, 8).fg, 3, "the header's gold is yellow")
        XCTAssertEqual(on(.border, 8).fg, 7); XCTAssertTrue(on(.border, 8).dim, "grey borders are dim white, never black on black")
        XCTAssertEqual(on(.dim, 8).fg, 7); XCTAssertTrue(on(.dim, 8).dim)
        XCTAssertEqual(on(.bad, 8).fg, 1)
        XCTAssertEqual(on(.newVersion, 8).fg, 5, "the new version is magenta, not red (red means bad)")
        XCTAssertEqual(on(.oldVersion, 8).fg, 4)
        XCTAssertEqual(on(.chatName, 8).fg, 6)
        XCTAssertEqual(on(.good, 8).fg, 2)
        // 16 colours keep the bright ones; 256 keeps everything.
        XCTAssertEqual(on(.border, 16).fg, 8); XCTAssertFalse(on(.border, 16).dim)
        XCTAssertEqual(on(.bad, 256).fg, 203)
        for role in Role.allCases {
            for colors in [8, 16] {
                let c = on(role, colors)
                XCTAssertLessThan(c.fg, Int16(colors), "\(role)"); XCTAssertLessThan(c.bg, Int16(colors), "\(role)")
                if c.fg >= 0, c.bg >= 0 { XCTAssertNotEqual(c.fg, c.bg, "\(role) at \(colors) colours is invisible") }
            }
        }
    }

    func testSixShippedThemesMatchTheBuiltInOnesAndStayReadableOnEveryTerminal() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../themes")
        XCTAssertEqual(Theme.builtIn.map(\.name), ["default", "light", "solarized-dark", "solarized-light", "high-contrast", "monochrome"])
        var seen: [Theme] = []
        for t in Theme.builtIn {
            let file = try String(contentsOf: dir.appendingPathComponent("\(t.name).toml"), encoding: .utf8)
            let parsed = try Theme.parse(file, file: "\(t.name).toml")
            XCTAssertEqual(parsed, Theme.named(t.name), "themes/\(t.name).toml differs from the built-in one")
            XCTAssertEqual(parsed.styles.count, 20, "\(t.name) styles every role")
            XCTAssertFalse(seen.contains(parsed), "\(t.name) is a copy of another theme")
            seen.append(parsed)
            for role in Role.allCases {
                for colors in [8, 16, 256] {
                    let st = parsed.style(role)
                    let d = TermColor.downsample(fg: st.fg, bg: st.bg, colors: colors)
                    if d.fg >= 0, d.bg >= 0 { XCTAssertNotEqual(d.fg, d.bg, "\(t.name).\(role) at \(colors) colours: text and background are the same colour") }
                }
            }
        }
    }

    func testAGreyOnALighterGreyStaysReadableOnEightColours() throws {
        // solarized-light's header: #586e75 on #eee8d5, both white on 8 colours: the text goes black.
        let header = try XCTUnwrap(Theme.named("solarized-light")).style(.header)
        XCTAssertEqual(TermColor.downsample(header.fg == .terminalDefault ? 0 : { if case let .indexed(n) = header.fg { return n }; return 0 }(), colors: 8).index, 7)
        let d = TermColor.downsample(fg: header.fg, bg: header.bg, colors: 8)
        XCTAssertEqual(d.fg, 0)
        XCTAssertEqual(d.bg, 7)
    }

    func testThePreviewWritesEachRolesColoursForTheTerminalAsked() {
        let bad = Theme.standard.style(.bad) // #ff5f5f, bold
        XCTAssertEqual(ANSIPreview.sequence(bad, colors: 256), ";1;38;5;203")
        XCTAssertEqual(ANSIPreview.sequence(bad, colors: 8), ";1;31")
        XCTAssertEqual(ANSIPreview.sequence(Theme.standard.style(.border), colors: 8), ";2;37", "grey borders: dim white on 8 colours")
        XCTAssertEqual(ANSIPreview.sequence(Theme.standard.style(.border), colors: 16), ";90")
        var g = CellGrid(width: 3, height: 1)
        g.put("ok", x: 0, y: 0, role: .good)
        XCTAssertEqual(ANSIPreview.render(g, theme: .standard, colors: 256), "\u{1b}[0;38;5;2mok\u{1b}[0m \u{1b}[0m\n")
    }
}
