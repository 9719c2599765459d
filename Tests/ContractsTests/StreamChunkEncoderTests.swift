import Contracts
import Foundation
import Testing

@Suite struct StreamChunkEncoderTests {
    static func chunk(_ delta: ChatCompletionChunk.Delta, id: String = "chatcmpl-req_1", model: String = "local-chat",
                      finish: String? = nil, usage: TokenUsage? = nil) -> ChatCompletionChunk {
        ChatCompletionChunk(id: id, created: 1_700_000_000, model: model, choices: usage == nil ? [.init(index: 0, delta: delta, finishReason: finish)] : [],
                            usage: usage)
    }

    /// Every ASCII character (controls, quote, backslash, slash), text of several scripts and
    /// emoji, and the marker the encoder stands in for content while it makes a frame.
    static let contents = (0..<0x80).map { String(UnicodeScalar(UInt8($0))) } + [
        "", " word", "Grüße, 世界 🚢👩‍👩‍👧", "line\nbreak\r\n\ttab \"quoted\" back\\slash a/b", "\u{2028}\u{2029}\u{FEFF}\u{7F}", "\u{1}\u{1}",
    ]

    @Test func encodesEachChunkAsJSONCodingDoes() throws {
        var encoder = StreamChunkEncoder()
        var chunks = [Self.chunk(.init(role: "assistant", content: ""))]
        chunks += Self.contents.map { Self.chunk(.init(content: $0)) }
        chunks += [
            Self.chunk(.init(content: "another stream"), id: "chatcmpl-req_2"),
            Self.chunk(.init(content: "another model"), model: "local-\"chat\"/2"),
            Self.chunk(.init(content: "a model named with the marker"), model: "m\u{1}"),
            Self.chunk(.init(toolCalls: [.object(["id": .string("call_1")])])),
            Self.chunk(.init(), finish: "stop"),
            Self.chunk(.init(), usage: TokenUsage(promptTokens: 3, completionTokens: 4)),
            Self.chunk(.init(content: "after the others")),
        ]
        for chunk in chunks {
            let fast = try encoder.encode(chunk)
            #expect(fast == (try JSONCoding.encode(chunk)), "\(String(decoding: fast, as: UTF8.self))")
            #expect(try JSONCoding.decode(ChatCompletionChunk.self, from: fast) == chunk)
        }
    }
}
