import Contracts
@testable import IngestionService
import Testing

@Suite struct TextChunkerTests {
    @Test func aShortTextIsOneChunk() {
        #expect(TextChunker(size: 100, overlap: 10).chunks(of: "  One short paragraph.  ") == ["One short paragraph."])
        #expect(TextChunker().chunks(of: " \n ").isEmpty)
    }

    @Test func chunksEndAtTheBestBreakAndOverlap() {
        let paragraphs = (1...6).map { number in
            (1...8).map { "Sentence \(number).\($0) of the text." }.joined(separator: " ")
        }
        let text = paragraphs.joined(separator: "\n\n")
        let chunker = TextChunker(size: 400, overlap: 60)
        let chunks = chunker.chunks(of: text)
        #expect(chunks.count > 2)
        for chunk in chunks {
            #expect(chunk.count <= 400)
            // Each chunk ends where a sentence does: a paragraph's or a sentence's end.
            #expect(chunk.hasSuffix("."), "\(chunk)")
        }
        // Every sentence is in some chunk, and consecutive chunks share text.
        for sentence in text.split(separator: "\n").flatMap({ $0.split(separator: ".") }) where sentence.count > 3 {
            #expect(chunks.contains { $0.contains(sentence.trimmingCharacters(in: .whitespaces)) })
        }
        for (previous, next) in zip(chunks, chunks.dropFirst()) {
            let head = String(next.prefix(20))
            #expect(previous.contains(head), "\(next) does not start inside the chunk before")
        }
    }

    @Test func aParagraphBreakIsPreferredToASentenceEnd() {
        let first = String(repeating: "word ", count: 50) + "end.\n\n"
        let second = "Second paragraph. " + String(repeating: "more ", count: 60)
        let chunks = TextChunker(size: 400, overlap: 20).chunks(of: first + second)
        #expect(chunks[0] == first.trimmingWhitespace())
    }

    @Test func textWithoutSpacesIsCutAtTheSize() {
        let text = String(repeating: "x", count: 1000)
        let chunks = TextChunker(size: 300, overlap: 50).chunks(of: text)
        #expect(chunks.allSatisfy { $0.count <= 300 })
        #expect(chunks.joined().count >= 1000)
    }
}

@Suite struct DocumentTextTests {
    @Test func htmlIsReadAsABrowserShowsIt() {
        let html = """
            <!doctype html><html><head><title>Ignored</title><style>p { color: red }</style></head>
            <body><h1>Budgets &amp; limits</h1>
            <p>A budget caps
               a tenant&#39;s spend &lt;per month&gt;.</p><!-- a comment -->
            <script>var secret = "hidden";</script>
            <ul><li>block</li><li>warn&#x2014;throttle</li></ul>
            <p>Tom &amp Jerry &unknown; 3 < 4</p></body></html>
            """
        let text = DocumentText.extract(html, as: .html)
        #expect(text == """
            Budgets & limits
            A budget caps a tenant's spend <per month>.
            block
            warn—throttle
            Tom &amp Jerry &unknown; 3 < 4
            """, "\(text)")
    }

    @Test func plainTextKeepsItsWordsAndLosesSpareBlankLines() {
        let text = DocumentText.extract("Line one  \r\n\r\n\r\n\r\nLine two\n\n", as: .plain)
        #expect(text == "Line one\n\nLine two")
    }

    @Test func anElementLeftOpenHidesTheRest() {
        #expect(DocumentText.extract("before<script>never closed", as: .html) == "before")
    }
}
