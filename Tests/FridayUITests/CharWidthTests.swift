import Foundation
import FridayTerminal
@testable import FridayUI
import XCTest

/// The UI measures text as the terminal will: the C library's `wcwidth`, installed by the
/// terminal layer. (The built-in table disagreed with it for thousands of code points.)
final class CharWidthTests: XCTestCase {
    override func tearDown() { CharWidth.useBuiltIn() }

    func testTheTerminalsWidthsAreTheOnesUsed() throws {
        guard setlocale(LC_CTYPE, "C.UTF-8") != nil else { throw XCTSkip("no C.UTF-8 locale on this machine") }
        CursesTerminal.useCLibraryWidths()
        // Wide in wcwidth (Unicode 15 East Asian Width W), narrow in the old table.
        for s in ["✅", "❌", "⭐", "⏳", "✨", "🟢", "部", "署"] {
            XCTAssertEqual(CharWidth.of(Character(s)), 2, s)
        }
        XCTAssertEqual(CharWidth.of("é"), 1)
        XCTAssertEqual(CharWidth.of(Unicode.Scalar(0x0301)!), 0, "a combining mark takes no column")
        XCTAssertEqual(CharWidth.of("ok ✅ 部署"), 10)
        // Every code point the C library measures agrees with the UI now.
        var disagree = 0
        for v in UInt32(0x300)..<0x30000 {
            guard let u = Unicode.Scalar(v) else { continue }
            let w = CursesTerminal.cLibraryWidth(v)
            if w >= 0, w != CharWidth.of(u) { disagree += 1 }
        }
        XCTAssertEqual(disagree, 0)
        CharWidth.useBuiltIn()
        XCTAssertEqual(CharWidth.of(Character("✅")), 1, "the built-in table is the old one (the bug), used only without a terminal")
    }
}
