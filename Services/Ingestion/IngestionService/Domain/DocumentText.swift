import Contracts
import Foundation

/// The words of a document, read out of the form it was uploaded in: what its chunks hold and
/// what search results show.
enum DocumentText {
    static func extract(_ body: String, as mediaType: DocumentMediaType) -> String {
        let text = switch mediaType {
        // A PDF's text was read out of it when it was stored.
        case .plain, .markdown, .pdf: body
        case .html: HTMLText.extract(body)
        }
        return normalized(text)
    }

    /// Line ends as `\n`, no trailing spaces on a line, at most one blank line in a row.
    static func normalized(_ text: String) -> String {
        var lines: [Substring] = []
        var blank = 0
        for var line in text.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n", omittingEmptySubsequences: false) {
            while let last = line.last, last.isWhitespace { line.removeLast() }
            blank = line.isEmpty ? blank + 1 : 0
            if blank < 2 { lines.append(line) }
        }
        while lines.first?.isEmpty == true { lines.removeFirst() }
        while lines.last?.isEmpty == true { lines.removeLast() }
        return lines.joined(separator: "\n")
    }
}

/// The text of an HTML page as a reader sees it: no markup, scripts, styles or comments; a line
/// break for each block element; character references decoded.
enum HTMLText {
    /// Elements whose content is not text to read.
    static let hiddenElements: Set<String> = ["script", "style", "head", "template", "noscript", "svg"]
    /// Elements that start a new line of text.
    static let blockElements: Set<String> = [
        "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "section", "article",
        "header", "footer", "blockquote", "pre", "hr", "dt", "dd", "title", "main", "nav", "aside", "figure", "figcaption",
    ]

    static func extract(_ html: String) -> String {
        var text = ""
        var rest = html[...]
        while let open = rest.firstIndex(of: "<") {
            text += inline(rest[..<open])
            rest = rest[open...]
            let next = rest.dropFirst().first
            // A `<` that opens no tag or comment is text, as in `3 < 4`.
            guard let next, next.isLetter || next == "/" || next == "!" else {
                text += "<"
                rest = rest.dropFirst()
                continue
            }
            if rest.hasPrefix("<!--") {
                rest = rest.range(of: "-->").map { rest[$0.upperBound...] } ?? ""
                continue
            }
            guard let close = rest.firstIndex(of: ">") else {
                text += inline(rest)
                rest = ""
                break
            }
            let tag = rest[rest.index(after: open)..<close]
            rest = rest[rest.index(after: close)...]
            let name = tag.drop { $0 == "/" }.prefix { $0.isLetter || $0.isNumber }.lowercased()
            if hiddenElements.contains(name), !tag.hasPrefix("/"), !tag.hasSuffix("/") {
                // Skip to the element's end tag (or to the end of the page without one).
                rest = rest.range(of: "</\(name)", options: .caseInsensitive).map { end in
                    rest[end.upperBound...].firstIndex(of: ">").map { rest[rest.index(after: $0)...] } ?? ""
                } ?? ""
                continue
            }
            if blockElements.contains(name) { text += "\n" }
        }
        text += inline(rest)
        // Within a block, whitespace is one space, as a browser shows it; each block is a line.
        return text.split(separator: "\n")
            .map { $0.split(whereSeparator: \.isWhitespace).joined(separator: " ") }
            .filter { !$0.isEmpty }
            .joined(separator: "\n")
    }

    /// Text between tags: the markup's own line breaks are not the text's.
    private static func inline(_ text: Substring) -> String {
        String(decodeReferences(text).map { $0.isNewline ? " " : $0 })
    }

    static let namedReferences: [Substring: String] = [
        "amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": " ", "mdash": "—", "ndash": "–",
        "hellip": "…", "copy": "©", "reg": "®", "trade": "™", "rsquo": "’", "lsquo": "‘", "rdquo": "”", "ldquo": "“",
    ]

    /// `&amp;`, `&#233;`, `&#xE9;` and the common named references; any other `&` is text.
    static func decodeReferences(_ text: Substring) -> String {
        guard text.contains("&") else { return String(text) }
        var decoded = ""
        var rest = text
        while let ampersand = rest.firstIndex(of: "&") {
            decoded += rest[..<ampersand]
            rest = rest[ampersand...]
            let body = rest.dropFirst().prefix(12)
            if let semicolon = body.firstIndex(of: ";"), let value = reference(body[..<semicolon]) {
                decoded += value
                rest = rest[rest.index(after: semicolon)...]
            } else {
                decoded += "&"
                rest = rest.dropFirst()
            }
        }
        return decoded + rest
    }

    private static func reference(_ name: Substring) -> String? {
        if name.hasPrefix("#") {
            let digits = name.dropFirst()
            let value = digits.first == "x" || digits.first == "X" ? UInt32(digits.dropFirst(), radix: 16) : UInt32(digits)
            return value.flatMap(Unicode.Scalar.init).map { String(Character($0)) }
        }
        return namedReferences[name]
    }
}
