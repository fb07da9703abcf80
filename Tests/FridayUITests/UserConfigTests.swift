import FridayCore
import FridayTesting
@testable import FridayUI
import XCTest

final class UserConfigTests: XCTestCase {
    override func tearDown() { Keymap.reset() }

    func testAGoodConfigGivesEachSetting() {
        let (c, warnings) = UserConfig.parse("""
        theme = "solarized-dark"
        name = "ana"
        layout = "stacked"
        bell = false
        [keys]
        promote = "w"
        revert = ["x", "X"]
        pause = "pgdn"
        page_down = "end"
        live = "G"
        """, file: "config.toml")
        XCTAssertEqual(warnings, [])
        XCTAssertEqual(c.theme, "solarized-dark")
        XCTAssertEqual(c.name, "ana")
        XCTAssertEqual(c.layout, .stacked)
        XCTAssertEqual(c.bell, false)
        XCTAssertEqual(c.keys[.promote], [.char("w")])
        XCTAssertEqual(c.keys[.revert], [.char("x"), .char("X")])
        XCTAssertEqual(c.keys[.togglePause], [.pageDown])
    }

    func testTheStoreIsCheckedAndABadOneIsKeptAsAProblem() {
        let (good, w1) = UserConfig.parse("[store]\nurl = \"postgres://friday@db:5432/friday\"\n", file: "c.toml")
        XCTAssertEqual(w1, [])
        XCTAssertEqual(good.store, "postgres://friday@db:5432/friday")
        XCTAssertNil(good.storeProblem)
        let (bad, w2) = UserConfig.parse("theme = \"nord\"\n[store]\nurl = \"http://db\"\n", file: "c.toml")
        XCTAssertNil(bad.store)
        XCTAssertEqual(bad.theme, "nord", "the rest of the config stands")
        XCTAssertTrue(bad.storeProblem?.hasPrefix("c.toml:3: store.url: expected a postgres:// address") ?? false, "\(String(describing: bad.storeProblem))")
        XCTAssertEqual(w2.count, 1)
        let (wrong, _) = UserConfig.parse("[store]\nurl = 5\n", file: "c.toml")
        XCTAssertEqual(wrong.storeProblem, "c.toml: [store] takes url = \"postgres://USER@HOST:PORT/DATABASE\"")
    }

    func testBadLinesAreWarningsWithFileAndLineAndTheDefaultsStay() {
        let (c, warnings) = UserConfig.parse("""
        thme = "light"
        layout = "tiled"
        name = "al ice"
        [keys]
        promote = "r"
        """, file: "/home/ana/.config/friday/config.toml")
        XCTAssertEqual(c.layout, nil)
        XCTAssertEqual(c.name, nil)
        XCTAssertEqual(c.keys, [:], "a conflict keeps the default keys")
        XCTAssertTrue(warnings.contains("/home/ana/.config/friday/config.toml:1: unknown setting \"thme\" (did you mean \"theme\"?); settings are theme, name, layout, bell, time_zone, mouse, store, keys"), "\(warnings)")
        XCTAssertTrue(warnings.contains { $0.hasPrefix("/home/ana/.config/friday/config.toml:2: layout must be grid, stacked or compact") }, "\(warnings)")
        XCTAssertTrue(warnings.contains { $0.hasPrefix("/home/ana/.config/friday/config.toml:3: name must be") }, "\(warnings)")
        XCTAssertTrue(warnings.contains { $0.contains(":5: keys.promote and keys.revert are both \"r\"") || $0.contains("keys.revert and keys.promote are both \"r\"") }, "\(warnings)")
        let (_, hostile) = UserConfig.parse("[keys]\nprmote = \"\\u001b]0;x\"\npromote = \"\\u009b\"\n", file: "c.toml")
        XCTAssertTrue(hostile.contains { $0.contains("(did you mean \"promote\"?)") }, "\(hostile)")
        XCTAssertFalse(hostile.joined().contains("\u{1b}") || hostile.joined().contains("\u{9b}"))
        XCTAssertTrue(hostile.contains { $0.contains("keys.promote:") && $0.contains("is not a key") }, "a C1 control is not a key: \(hostile)")
        let (empty, emptyWarnings) = UserConfig.parse("[keys]\npromote = []\nsay = \"p\"\n", file: "c.toml")
        XCTAssertEqual(empty.keys, [:], "an empty key list would leave promote on p and say unreachable")
        XCTAssertTrue(emptyWarnings.contains { $0.contains("keys.promote has no key") }, "\(emptyWarnings)")
        let (zoned, zoneWarnings) = UserConfig.parse("bell = true\ntime_zone = \"Europe/Berlin\"\nmouse = false\n", file: "c.toml")
        XCTAssertEqual(zoned.timeZone, "Europe/Berlin")
        XCTAssertEqual(zoned.timeZoneLine, 2)
        XCTAssertEqual(zoned.mouse, false)
        XCTAssertEqual(zoneWarnings, [])
        let (_, badZone) = UserConfig.parse("time_zone = \"\\u001b]0;x\"\nmouse = 1\n", file: "c.toml")
        XCTAssertTrue(badZone.contains { $0.hasPrefix("c.toml:1: time_zone must be a zone's name") }, "\(badZone)")
        XCTAssertTrue(badZone.contains { $0.hasPrefix("c.toml:2: mouse must be true or false") }, "\(badZone)")
        let (_, broken) = UserConfig.parse("theme = \n", file: "c.toml")
        XCTAssertTrue(broken.first?.hasPrefix("c.toml:1: not valid TOML") ?? false, "\(broken)")
    }

    func testRemappedKeysActAndTheHelpAndFooterSayThem() {
        let (c, _) = UserConfig.parse("[keys]\npromote = \"w\"\nsay = \"t\"\n", file: "c.toml")
        Keymap.install(c.keys)
        let f = EventFixture.rolling(step: 1)
        var m = UIModel(deploy: f.state, now: f.t, user: "you")
        Reducer.reduce(&m.deploy, DeployEvent(seq: m.deploy.lastSeq + 1, ts: m.now, deploy: m.deploy.deployID,
                                              payload: .analysisVerdict(step: 1, verdict: .pass, summary: "passed", figures: [])))
        XCTAssertEqual(m.update(.key(.char("p"))), [], "p no longer promotes")
        XCTAssertEqual(m.update(.key(.char("w"))), [.send(Command(.promote, by: "you"))])
        XCTAssertTrue(Screen.render(m).lines.last!.hasPrefix(" w promote"), Screen.render(m).lines.last!)
        _ = m.update(.key(.char("?")))
        let help = Screen.render(m).lines.joined(separator: "\n")
        XCTAssertTrue(help.contains("w      promote: end this pause") && help.contains("t      say"), help)
        // The hints in the panes name the keys in use too.
        _ = m.update(.key(.escape))
        let screen = Screen.render(m).lines.joined(separator: "\n")
        XCTAssertFalse(screen.contains("holds until promoted: p for"), screen)
        _ = m.update(.key(.paste("x")))
        XCTAssertEqual(m.message?.text, "a paste does nothing here: press t to type into the team log first")
    }
}
