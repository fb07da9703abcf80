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
}
