import Foundation

/// Encodes the chunks of one streamed completion in the JSON dialect of `JSONCoding`.
///
/// Nearly every chunk of a stream carries only a piece of content, and the JSON of those chunks
/// differs in nothing else: the frame around the content is encoded once per stream, by
/// `JSONCoding`, and each piece is escaped into it. Any other chunk (the role, tool calls, the
/// finish reason, the usage) is encoded whole. Both ways give the same bytes.
public struct StreamChunkEncoder {
    private struct Frame {
        /// The chunk with `marker` for its content.
        var bare: ChatCompletionChunk
        /// The JSON up to the content's opening quote, and from its closing quote; nil when the
        /// frame cannot be used.
        var parts: (prefix: [UInt8], suffix: [UInt8])?
    }

    private var frame: Frame?

    public init() {}

    public mutating func encode(_ chunk: ChatCompletionChunk) throws -> Data {
        guard let content = Self.onlyContent(chunk) else { return try JSONCoding.encode(chunk) }
        var bare = chunk
        bare.choices[0].delta.content = Self.marker
        if frame?.bare != bare { frame = Frame(bare: bare, parts: try Self.parts(of: bare)) }
        guard let (prefix, suffix) = frame?.parts else { return try JSONCoding.encode(chunk) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(prefix.count + content.utf8.count + suffix.count + 8)
        bytes += prefix
        JSONCoding.appendEscaped(content, to: &bytes)
        bytes += suffix
        return Data(bytes)
    }

    /// The content of a chunk that carries nothing else: one choice, neither role, tool calls,
    /// finish reason nor usage.
    private static func onlyContent(_ chunk: ChatCompletionChunk) -> String? {
        guard chunk.usage == nil, chunk.choices.count == 1, let choice = chunk.choices.first,
              choice.finishReason == nil, choice.delta.role == nil, choice.delta.toolCalls == nil else { return nil }
        return choice.delta.content
    }

    /// Stands for the content while the frame is encoded; found again by its escaped form. A
    /// frame in which it shows more than once (a model named with it) is not used.
    private static let marker = "\u{1}"
    private static let escapedMarker = Array(#""\u0001""#.utf8)

    private static func parts(of bare: ChatCompletionChunk) throws -> (prefix: [UInt8], suffix: [UInt8])? {
        let json = Array(try JSONCoding.encode(bare))
        let found = json.indices.filter { json[$0...].starts(with: escapedMarker) }
        guard found.count == 1, let start = found.first else { return nil }
        return (Array(json[...start]), Array(json[(start + escapedMarker.count - 1)...]))
    }
}
