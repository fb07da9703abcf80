/// Checks, before a TOML parser sees a file, what the parser friday uses (toml++ inside
/// TOMLKit) does not check itself and stops the program on instead (an assertion): a table
/// header whose name begins with a character no key can begin with, such as `[#x]` or
/// `[[`steps]]`, and a `}` closing an array (`keys = [ }`). Found by fuzzing the deploy-file
/// and theme parsers.
///
/// A small lexer: it follows strings (basic, literal, multi-line), comments and the brackets
/// of values, so a `[` that opens an array value is never taken for a header.
public enum TOMLGuard {
    /// The line and what is wrong, or nil when the parser can be given the text.
    public static func problem(in text: String) -> (line: Int, message: String)? {
        let s = Array(text.unicodeScalars)
        var i = 0, line = 1
        // The brackets of values still open: `[` for arrays, `{` for inline tables.
        var open: [Unicode.Scalar] = []
        var depth: Int { open.count }
        var lineStart = true
        // toml++ skips a byte order mark, so a header right after one is a header.
        if s.first == "\u{FEFF}" { i = 1 }
        func at(_ k: Int) -> Unicode.Scalar? { k < s.count ? s[k] : nil }
        func keyStart(_ c: Unicode.Scalar?) -> Bool {
            guard let c else { return true } // the end: the parser reports it
            switch c {
            case "a"..."z", "A"..."Z", "0"..."9", "_", "-", "\"", "'", "]": return true
            default: return false
            }
        }
        while i < s.count {
            let c = s[i]
            switch c {
            case "\n":
                line += 1
                if depth == 0 { lineStart = true }
                i += 1
            case " ", "\t", "\r":
                i += 1
            case "#":
                while i < s.count, s[i] != "\n" { i += 1 }
            case "\"", "'":
                lineStart = false
                let multi = at(i + 1) == c && at(i + 2) == c
                i += multi ? 3 : 1
                while i < s.count {
                    if c == "\"", s[i] == "\\" {
                        if at(i + 1) == "\n" { line += 1 }
                        i += 2; continue
                    }
                    if multi {
                        if s[i] == c, at(i + 1) == c, at(i + 2) == c {
                            // Up to two more quotes belong to the string: `"""x""""` is `x"`.
                            i += 3
                            var extra = 0
                            while extra < 2, at(i) == c { i += 1; extra += 1 }
                            break
                        }
                        if s[i] == "\n" { line += 1 }
                    } else {
                        if s[i] == c { i += 1; break }
                        if s[i] == "\n" { break } // unterminated: the parser reports it
                    }
                    i += 1
                }
            case "[" where depth == 0 && lineStart:
                // A table header: `[name]` or `[[name]]`.
                var j = i + 1
                if at(j) == "[" { j += 1 }
                while at(j) == " " || at(j) == "\t" { j += 1 }
                if !keyStart(at(j)) {
                    return (line, "a table header must begin with a name, as [deploy] or [[rollout.steps]] (a name with other characters goes in quotes)")
                }
                lineStart = false
                // The rest of the header is the parser's to check; go on after it.
                i = j
                while i < s.count, s[i] != "\n" {
                    if s[i] == "\"" || s[i] == "'" {
                        let q = s[i]
                        i += 1
                        while i < s.count, s[i] != q, s[i] != "\n" { i += q == "\"" && s[i] == "\\" ? 2 : 1 }
                        if i < s.count, s[i] == q { i += 1 }
                        continue
                    }
                    if s[i] == "]" {
                        i += 1
                        if at(i) == "]" { i += 1 }
                        break
                    }
                    i += 1
                }
            case "[", "{":
                open.append(c)
                lineStart = false
                i += 1
            case "]", "}":
                if let last = open.last {
                    if (last == "[") != (c == "]") {
                        return (line, "'\(c)' cannot close the '\(last)' opened before it (an array closes with ']', an inline table with '}')")
                    }
                    open.removeLast()
                }
                lineStart = false
                i += 1
            default:
                lineStart = false
                i += 1
            }
        }
        return nil
    }
}
