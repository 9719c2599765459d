import Foundation

/// A PDF written out by hand: one Helvetica text line per string, with a correct
/// cross-reference table, as a PDF writer makes it. Pages with the same lines share one content
/// stream, so a small file can hold a great deal of text, or of `drawing` (content stream
/// operators every page runs after its text). Lines are ASCII without parentheses or backslashes
/// (nothing is escaped).
enum TestPDF {
    static func make(pages: [[String]], drawing: String = "") -> Data {
        // 1: catalog, 2: page tree, 3: font; then pages and content streams.
        var objects = ["<< /Type /Catalog /Pages 2 0 R >>", "", "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
        var streams: [[String]: Int] = [:]
        var pageNumbers: [Int] = []
        for lines in pages {
            let stream: Int
            if let shared = streams[lines] {
                stream = shared
            } else {
                let content = "BT /F1 10 Tf 36 770 Td 12 TL " + lines.map { "(\($0)) '" }.joined(separator: " ") + " ET " + drawing
                objects.append("<< /Length \(content.utf8.count) >>\nstream\n\(content)\nendstream")
                stream = objects.count
                streams[lines] = stream
            }
            objects.append("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents \(stream) 0 R /Resources << /Font << /F1 3 0 R >> >> >>")
            pageNumbers.append(objects.count)
        }
        objects[1] = "<< /Type /Pages /Kids [\(pageNumbers.map { "\($0) 0 R" }.joined(separator: " "))] /Count \(pages.count) >>"

        var file = "%PDF-1.4\n"
        var offsets: [Int] = []
        for (index, object) in objects.enumerated() {
            offsets.append(file.utf8.count)
            file += "\(index + 1) 0 obj\n\(object)\nendobj\n"
        }
        let table = file.utf8.count
        file += "xref\n0 \(objects.count + 1)\n0000000000 65535 f \n"
        for offset in offsets { file += String(repeating: "0", count: 10 - String(offset).count) + "\(offset) 00000 n \n" }
        file += "trailer\n<< /Size \(objects.count + 1) /Root 1 0 R >>\nstartxref\n\(table)\n%%EOF\n"
        return Data(file.utf8)
    }
}
