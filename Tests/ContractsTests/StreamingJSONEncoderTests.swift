@testable import Contracts
import Foundation
import Testing

/// `JSONCoding.encode` writes JSON in one pass; these hold what it writes to what `JSONEncoder`
/// writes: the same bytes where the order of keys plays no part, the same JSON where it does.
@Suite struct StreamingJSONEncoderTests {
    static func foundation(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(JSONCoding.format(date))
        }
        return try encoder.encode(value)
    }

    static func text(_ data: Data) -> String { String(decoding: data, as: UTF8.self) }

    @Test func escapesStringsAsJSONEncoderDoes() throws {
        let strings = (0..<0x80).map { String(UnicodeScalar(UInt8($0))) } + [
            "", "plain", "Grüße, 世界 🚢👩‍👩‍👧", "line\nbreak\r\n\ttab \"quoted\" back\\slash a/b </script>",
            "\u{2028}\u{2029}\u{FEFF}\u{7F}\u{0}", String(repeating: "long \u{1F}", count: 300),
        ]
        let written = try JSONCoding.encode(strings)
        #expect(Self.text(written) == Self.text(try Self.foundation(strings)))
        #expect(try JSONCoding.decode([String].self, from: written) == strings)
    }

    @Test func writesNumbersAsJSONEncoderDoes() throws {
        var doubles: [Double] = [0, -0.0, 1, -1, 0.1, 0.7, 1e-5, 1e-7, 3e-4, 2.5e15, 1e16, 1e17, 1e21, 1e22, 123_456_789_012_345_678,
                                 .leastNonzeroMagnitude, .greatestFiniteMagnitude, .ulpOfOne, 1 / 3.0]
        var generator = SystemRandomNumberGenerator()
        doubles += (0..<2000).compactMap { _ in
            let value = Double(bitPattern: generator.next())
            return value.isFinite ? value : nil
        }
        let floats: [Float] = [0, 1, 0.1, 1e-5, 1e-7, 0.0123, 16_777_216, 3.4e38, -2.5] + (0..<500).map { _ in Float.random(in: -1...1) }
        #expect(Self.text(try JSONCoding.encode(doubles)) == Self.text(try Self.foundation(doubles)))
        #expect(Self.text(try JSONCoding.encode(floats)) == Self.text(try Self.foundation(floats)))
        #expect(try JSONCoding.decode([Double].self, from: JSONCoding.encode(doubles)) == doubles)

        let integers: [Int64] = [0, 1, -1, 9, 10, -10, 99, 100, 1_234_567_890, .max, .min]
        #expect(Self.text(try JSONCoding.encode(integers)) == Self.text(try Self.foundation(integers)))
        let small: [Int8] = [.min, -1, 0, 7, .max]
        #expect(Self.text(try JSONCoding.encode(small)) == "[-128,-1,0,7,127]")
        #expect(Self.text(try JSONCoding.encode([UInt64.max, 0])) == "[18446744073709551615,0]")
        #expect(Self.text(try JSONCoding.encode([true, false])) == "[true,false]")
        #expect(Self.text(try JSONCoding.encode([Int?.none, 5])) == "[null,5]")
    }

    @Test func refusesNumbersJSONCannotHold() {
        for value in [Double.nan, .infinity, -.infinity] {
            #expect(throws: EncodingError.self) { try JSONCoding.encode(["temperature": value]) }
        }
        var request = ChatCompletionRequest(model: "m", messages: [.user("hi")])
        request.temperature = .nan
        #expect {
            try JSONCoding.encode(request)
        } throws: { error in
            guard case EncodingError.invalidValue(_, let context) = error else { return false }
            return context.codingPath.map(\.stringValue) == ["temperature"]
        }
    }

    struct Ordered: Encodable {
        var zebra = 1
        var apple = "a"
        var middle: [String: Int] = ["b": 2, "a": 1, "c": 3]
        var when = Date(millisecondsSince1970: 1_700_000_000_123)
        var bytes = Data([0, 1, 2, 250])
        var link = URL(string: "https://example.com/a/b?c=d")!
        var nothing: Int? = nil
    }

    @Test func writesKeysInTheOrderAValueEncodesThemAndDictionariesSorted() throws {
        #expect(Self.text(try JSONCoding.encode(Ordered())) == #"{"zebra":1,"apple":"a","middle":{"a":1,"b":2,"c":3},"when":"2023-11-14T22:13:20.123Z","bytes":"AAEC+g==","link":"https://example.com/a/b?c=d"}"#)
        let words = Dictionary(uniqueKeysWithValues: (0..<50).map { ("key\($0)", $0) })
        #expect(try JSONCoding.encode(words) == (try JSONCoding.encode(words)))
        #expect(Self.text(try JSONCoding.encode(words)).hasPrefix(#"{"key0":0,"key1":1,"key10":10,"#))
    }

    /// The calls on the hot path of a model call, and an event: the same JSON as `JSONEncoder`
    /// writes, and read back to the same value.
    @Test func writesContractsAsJSONEncoderDoes() throws {
        var request = ChatCompletionRequest(model: "gpt-4o-mini", messages: [
            .system("Be brief."),
            ChatMessage(role: "user", content: .parts([.object(["type": .string("text"), "text": .string("What is in it?")]),
                                                       .object(["type": .string("image_url"), "image_url": .object(["url": .string("data:image/png;base64,AAAA")])])])),
            ChatMessage(role: "assistant", content: nil, toolCalls: [.object(["id": .string("call_1"), "type": .string("function"),
                                                                              "function": .object(["name": .string("lookup"), "arguments": .string("{\"q\":1}")])])]),
            ChatMessage(role: "tool", content: .text("42"), toolCallID: "call_1"),
        ], maxTokens: 64, stream: true)
        request.temperature = 0.2
        request.topP = 1
        request.stop = .many(["\n\n", "END"])
        request.seed = -7
        request.streamOptions = StreamOptions(includeUsage: true)
        request.tools = [.object(["type": .string("function"), "function": .object([
            "name": .string("lookup"), "parameters": .object(["type": .string("object"), "properties": .object(["q": .object(["type": .string("integer")])]),
                                                             "required": .array([.string("q")]), "additionalProperties": .bool(false), "minimum": .number(0.5), "nullable": .null]),
        ])])]
        request.toolChoice = .string("auto")
        let call = RouterChatCall(requestID: "req_1", tenantID: UUID(), apiKeyID: UUID(), completion: request)
        try expectSameJSON(call)
        #expect(try JSONCoding.decode(RouterChatCall.self, from: JSONCoding.encode(call)) == call)

        let completion = ChatCompletion(id: "chatcmpl-1", created: 1_700_000_000, model: "m",
                                        choices: [.init(index: 0, message: .assistant("Hello \"there\""), finishReason: "stop")],
                                        usage: TokenUsage(promptTokens: 3, completionTokens: 2))
        try expectSameJSON(completion)

        let usage = Envelope(tenantID: UUID(), correlationID: "req_1", payload: UsageRecorded(
            requestID: "req_1", apiKeyID: nil, model: "m", deployment: "d", promptTokens: 3, completionTokens: 2,
            costMicros: 1234, latencyMs: 12, ttftMs: nil, status: .succeeded))
        try expectSameJSON(usage)
        #expect(try JSONCoding.decode(Envelope<UsageRecorded>.self, from: JSONCoding.encode(usage)) == usage)

        try expectSameJSON(EmbeddingsResponse(data: [.init(index: 0, embedding: .init([0.25, -1, 3e-8], format: .float)),
                                                     .init(index: 1, embedding: .init([1, 2], format: .base64))],
                                              model: "e", usage: .init(promptTokens: 4)))
    }

    func expectSameJSON(_ value: some Encodable, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let written = try JSONCoding.encode(value)
        let expected = try Self.foundation(value)
        #expect(try JSONCoding.decode(JSONValue.self, from: written) == JSONCoding.decode(JSONValue.self, from: expected),
                "\(Self.text(written))\n\(Self.text(expected))", sourceLocation: sourceLocation)
    }

    // MARK: Values that encode themselves unusually

    /// Asks for its container twice, nests containers, and writes to a nested container while its
    /// parent's other members follow: all in one pass.
    struct HandWritten: Encodable {
        enum Keys: String, CodingKey { case name, inner, list, empty, emptyList, after }
        enum InnerKeys: String, CodingKey { case x }

        func encode(to encoder: any Encoder) throws {
            var first = encoder.container(keyedBy: Keys.self)
            try first.encode("n", forKey: .name)
            var inner = first.nestedContainer(keyedBy: InnerKeys.self, forKey: .inner)
            try inner.encode(1, forKey: .x)
            var list = first.nestedUnkeyedContainer(forKey: .list)
            try list.encode(1)
            var pair = list.nestedUnkeyedContainer()
            try pair.encode("a")
            try pair.encodeNil()
            try list.encode(2)
            #expect(list.count == 3)
            _ = first.nestedContainer(keyedBy: InnerKeys.self, forKey: .empty)
            _ = first.nestedUnkeyedContainer(forKey: .emptyList)
            var again = encoder.container(keyedBy: Keys.self)
            try again.encode(true, forKey: .after)
        }
    }

    @Test func writesNestedAndReopenedContainersInOnePass() throws {
        let written = try StreamingJSONEncoder().encode(HandWritten())
        #expect(Self.text(written) == #"{"name":"n","inner":{"x":1},"list":[1,["a",null],2],"empty":{},"emptyList":[],"after":true}"#)
        try expectSameJSON(HandWritten())
    }

    /// Writes to a nested container after its parent wrote again: needs the whole tree.
    struct LateNested: Encodable {
        enum Keys: String, CodingKey { case inner, between }
        enum InnerKeys: String, CodingKey { case first, late }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            var inner = container.nestedContainer(keyedBy: InnerKeys.self, forKey: .inner)
            try inner.encode(1, forKey: .first)
            try container.encode(2, forKey: .between)
            try inner.encode(3, forKey: .late)
        }
    }

    class Base: Encodable {
        var base = 1
    }

    final class Derived: Base, @unchecked Sendable {
        var own = 2
        enum Keys: String, CodingKey { case own }
        override func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(own, forKey: .own)
            try super.encode(to: container.superEncoder())
        }
    }

    @Test func fallsBackToJSONEncoderForWhatOnePassCannotWrite() throws {
        #expect(throws: StreamingJSONEncoder.Unsupported.self) { try StreamingJSONEncoder().encode(LateNested()) }
        #expect(Self.text(try JSONCoding.encode(LateNested())) == #"{"between":2,"inner":{"first":1,"late":3}}"#)
        #expect(throws: StreamingJSONEncoder.Unsupported.self) { try StreamingJSONEncoder().encode(Derived()) }
        #expect(Self.text(try JSONCoding.encode(Derived())) == #"{"own":2,"super":{"base":1}}"#)
    }

    struct Silent: Encodable {
        func encode(to encoder: any Encoder) throws {}
    }

    @Test func writesAValueThatEncodesNothingAsJSONEncoderDoes() throws {
        #expect(Self.text(try JSONCoding.encode(["a": Silent()])) == Self.text(try Self.foundation(["a": Silent()])))
        #expect(throws: EncodingError.self) { try JSONCoding.encode(Silent()) }
    }
}
