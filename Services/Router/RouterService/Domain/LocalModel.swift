import Contracts
import Foundation

/// The built-in `local` model: deterministic and offline, for demos and tests. It is not a
/// language model: its replies are words drawn from a fixed vocabulary by a generator seeded
/// with the conversation, so the same conversation always gets the same reply. Its token counts
/// are real in the sense that matters here: it counts prompts with `LocalTokenizer` and emits
/// exactly as many completion tokens as it reports.
public struct LocalModel: Sendable {
    /// Tokens of a reply when the caller sets no limit.
    public static let defaultReplyTokens = 48
    public static let embeddingDimensions = 256

    public init() {}

    /// The reply's tokens (each a word with its leading space) and why it ended.
    public func reply(to messages: [ChatMessage], limit: Int?) -> (tokens: [String], finishReason: String) {
        var random = SplitMix64(seed: fnv1a64(messages.map { "\($0.role):\($0.content?.text ?? "")" }.joined(separator: "\n")))
        let natural = 12 + Int(random.next() % UInt64(Self.defaultReplyTokens - 12 + 1))
        let count = max(0, min(natural, limit ?? natural))
        var tokens: [String] = []
        tokens.reserveCapacity(count)
        for index in 0..<count {
            var word = Self.vocabulary[Int(random.next() % UInt64(Self.vocabulary.count))]
            if index == 0 { word = word.prefix(1).uppercased() + word.dropFirst() }
            tokens.append((index == 0 ? "" : " ") + word)
        }
        if natural <= count, var last = tokens.popLast() {
            last += "."
            tokens.append(last)
        }
        return (tokens, natural <= count ? "stop" : "length")
    }

    /// Prompt tokens of a conversation: its text by `LocalTokenizer`, plus 3 per message and 3
    /// to start the reply, as OpenAI counts chat formatting.
    public func promptTokens(_ messages: [ChatMessage]) -> Int {
        messages.reduce(3) { $0 + 3 + LocalTokenizer.count($1.content?.text ?? "") + ($1.name == nil ? 0 : 1) }
    }

    /// A unit vector by feature hashing: each token adds ±1 at a position its hash picks, so
    /// texts sharing words point in similar directions.
    public func embedding(of text: String, dimensions: Int = LocalModel.embeddingDimensions) -> [Float] {
        var vector = [Float](repeating: 0, count: dimensions)
        for token in LocalTokenizer.words(text.lowercased()) {
            let hash = fnv1a64(token)
            vector[Int(hash % UInt64(dimensions))] += (hash >> 63) == 0 ? 1 : -1
        }
        let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return norm == 0 ? vector : vector.map { $0 / norm }
    }

    static let vocabulary = [
        "the", "switch", "yard", "routes", "each", "call", "to", "a", "model", "and", "counts", "every",
        "token", "it", "sees", "local", "replies", "are", "made", "here", "without", "any", "network",
        "so", "demos", "run", "offline", "tenants", "keys", "budgets", "stay", "exact", "when", "many",
        "requests", "arrive", "at", "once", "events", "flow", "through", "streams", "ledgers", "add", "up",
    ]
}

/// Counts text in tokens roughly as byte-pair encoders do for English: a word of up to four
/// characters is one token, longer words one per four characters, and every other visible
/// character one token.
public enum LocalTokenizer {
    public static func count(_ text: String) -> Int {
        // Most prompts are ASCII, where a byte is a character: counted without grapheme breaking,
        // which costs more than the rest of a call's routing.
        var ascii = true
        var count = 0
        var wordLength = 0
        for byte in text.utf8 {
            guard byte < 0x80 else {
                ascii = false
                break
            }
            let isDigit = byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
            let isLetter = (byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z")
            if isDigit || isLetter {
                wordLength += 1
                continue
            }
            count += (wordLength + 3) / 4
            wordLength = 0
            let isWhitespace = byte == UInt8(ascii: " ") || (byte >= 0x09 && byte <= 0x0D)
            if !isWhitespace { count += 1 }
        }
        if ascii { return count + (wordLength + 3) / 4 }
        count = 0
        wordLength = 0
        for character in text {
            if character.isLetter || character.isNumber {
                wordLength += 1
                continue
            }
            count += (wordLength + 3) / 4
            wordLength = 0
            if !character.isWhitespace { count += 1 }
        }
        return count + (wordLength + 3) / 4
    }

    static func words(_ text: String) -> [String] {
        text.split { !($0.isLetter || $0.isNumber) }.map(String.init)
    }
}

/// A small, fast generator with a seed (SplitMix64), so the same seed gives the same sequence
/// everywhere: the local model's replies, and simulations in tests.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func fnv1a64(_ text: String) -> UInt64 {
    text.utf8.reduce(0xCBF2_9CE4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 }
}
