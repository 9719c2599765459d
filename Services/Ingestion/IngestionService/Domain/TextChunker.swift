import Contracts

/// Cuts a document's text into chunks small enough to embed and to show as a search result.
///
/// A chunk ends at the best break in the second half of its window: a paragraph's end, else a
/// line's or a sentence's, else a space; only a window without any is cut mid-word. The next
/// chunk starts `overlap` characters before the break (at a word's start), so a passage that
/// spans a break is whole in one of the two chunks.
struct TextChunker: Sendable {
    /// Characters of a chunk at most.
    var size = DocumentLimits.maxChunkCharacters
    /// Characters a chunk repeats of the one before.
    var overlap = 150

    func chunks(of text: String) -> [String] {
        precondition(size > 0 && overlap >= 0 && overlap < size / 2, "overlap must be under half the size")
        let characters = Array(text)
        var chunks: [String] = []
        var start = 0
        while start < characters.count {
            var end = min(start + size, characters.count)
            if end < characters.count { end = Self.bestBreak(in: characters, from: start + size / 2, to: end) }
            let chunk = String(characters[start..<end]).trimmingWhitespace()
            if !chunk.isEmpty { chunks.append(chunk) }
            guard end < characters.count else { break }
            // Back by the overlap, then forward to a word's start; always past the last start.
            var next = max(end - overlap, start + 1)
            while next < end, !characters[next - 1].isWhitespace { next += 1 }
            start = next
        }
        return chunks
    }

    /// Where a chunk in `characters[..<limit]` ends best, not before `earliest`: after the last
    /// blank line, else line end, else sentence end, else space; `limit` when there is none.
    static func bestBreak(in characters: [Character], from earliest: Int, to limit: Int) -> Int {
        var lineEnd: Int?
        var sentenceEnd: Int?
        var space: Int?
        var index = limit
        while index > earliest {
            let previous = characters[index - 1]
            if previous == "\n" {
                if index >= 2, characters[index - 2] == "\n" { return index }
                if lineEnd == nil { lineEnd = index }
            } else if previous.isWhitespace {
                if sentenceEnd == nil, index >= 2, ".!?".contains(characters[index - 2]) { sentenceEnd = index }
                if space == nil { space = index }
            }
            index -= 1
        }
        return lineEnd ?? sentenceEnd ?? space ?? limit
    }
}

extension String {
    func trimmingWhitespace() -> String {
        guard let first = firstIndex(where: { !$0.isWhitespace }), let last = lastIndex(where: { !$0.isWhitespace }) else { return "" }
        return String(self[first...last])
    }
}
