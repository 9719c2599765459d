import Contracts
import Foundation
import Testing

@Suite struct ChatContractsTests {
    @Test func aRequestAsTheOpenAISDKSendsItDecodesAndRoundTrips() throws {
        let body = """
            {"model":"local-chat","messages":[
              {"role":"system","content":"Be brief."},
              {"role":"user","content":[{"type":"text","text":"Hello"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]},
              {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]},
              {"role":"tool","tool_call_id":"call_1","content":"42"}],
             "max_tokens":64,"temperature":0.2,"stream":true,"stream_options":{"include_usage":true},
             "stop":["\\n\\n"],"seed":7,"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],
             "tool_choice":"auto","response_format":{"type":"json_object"},"user":"u-1"}
            """
        let request = try JSONCoding.decode(ChatCompletionRequest.self, from: Data(body.utf8))
        #expect(request.messages.count == 4)
        #expect(request.messages[1].content?.text == "Hello")
        #expect(request.messages[2].toolCalls?.count == 1 && request.messages[3].toolCallID == "call_1")
        #expect(request.streamOptions?.includeUsage == true && request.stop?.values == ["\n\n"])
        #expect(request.completionTokenLimit == 64 && request.seed == 7)
        #expect(request.toolChoice == .string("auto"))
        _ = try roundTrip(request)
    }

    /// Parameters Switchyard does not name travel on as they came, beside the ones it does.
    @Test func parametersOfNoFieldAreKeptAndWrittenAgain() throws {
        let body = #"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":5,"parallel_tool_calls":false,"#
            + #""reasoning_effort":"low","logit_bias":{"50256":-100},"metadata":{"order":"A-1"},"logprobs":null}"#
        let request = try JSONCoding.decode(ChatCompletionRequest.self, from: Data(body.utf8))
        #expect(request.maxTokens == 5)
        #expect(request.otherParameters == [
            "parallel_tool_calls": .bool(false), "reasoning_effort": .string("low"),
            "logit_bias": .object(["50256": .integer(-100)]), "metadata": .object(["order": .string("A-1")]), "logprobs": .null,
        ])
        let written = try json(request)
        #expect(written["reasoning_effort"] as? String == "low" && written["max_tokens"] as? Int == 5)
        #expect(written["otherParameters"] == nil && written["other_parameters"] == nil)
        _ = try roundTrip(request)
        _ = try roundTrip(RouterChatCall(requestID: "r", tenantID: UUID(), apiKeyID: nil, completion: request))
        // Any decoder finds them, not only Switchyard's own.
        #expect(try JSONDecoder().decode(ChatCompletionRequest.self, from: Data(body.utf8)) == request)
    }

    @Test func responsesAndChunksRoundTripWithOpenAIsKeys() throws {
        let completion = ChatCompletion(
            id: "chatcmpl-1", created: 1_700_000_000, model: "local-chat",
            choices: [.init(index: 0, message: .assistant("Hi."), finishReason: "stop")],
            usage: TokenUsage(promptTokens: 9, completionTokens: 2))
        _ = try roundTrip(completion)
        let object = try json(completion)
        #expect(object["object"] as? String == "chat.completion")
        #expect((object["usage"] as? [String: Any])?["total_tokens"] as? Int == 11)

        let chunk = ChatCompletionChunk(id: "chatcmpl-1", created: 1, model: "m", choices: [.init(index: 0, delta: .init(content: "Hi"))])
        _ = try roundTrip(chunk)
        let text = String(decoding: try JSONCoding.encode(chunk), as: UTF8.self)
        #expect(text.contains(#""finish_reason":null"#) && text.contains(#""object":"chat.completion.chunk""#))
        _ = try roundTrip(ChatCompletionChunk(id: "c", created: 1, model: "m", choices: [], usage: TokenUsage(promptTokens: 1, completionTokens: 1)))
    }

    @Test func embeddingsShapesRoundTrip() throws {
        let one = try JSONCoding.decode(EmbeddingsRequest.self, from: Data(#"{"model":"e","input":"hello"}"#.utf8))
        let many = try JSONCoding.decode(EmbeddingsRequest.self, from: Data(#"{"model":"e","input":["a","b"],"dimensions":8}"#.utf8))
        #expect(one.input.values == ["hello"] && many.input.values == ["a", "b"] && many.dimensions == 8)
        _ = try roundTrip(many)
        _ = try roundTrip(EmbeddingsResponse(data: [.init(index: 0, embedding: .floats([0.5, -0.25]))], model: "e", usage: .init(promptTokens: 3)))
    }

    @Test func base64EmbeddingsAreLittleEndianFloat32sAsOpenAISends() throws {
        let vector = EmbeddingVector([1.0, -2.5, 0.1], format: .base64)
        // 1.0 = 0x3F800000, -2.5 = 0xC0200000, 0.1 = 0x3DCCCCCD, each little-endian.
        #expect(vector == .base64(Data([0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x20, 0xC0, 0xCD, 0xCC, 0xCC, 0x3D]).base64EncodedString()))
        #expect(vector.values == [1.0, -2.5, 0.1])
        #expect(EmbeddingVector.base64("AAA=").values == nil)
        _ = try roundTrip(EmbeddingsResponse(data: [.init(index: 0, embedding: vector)], model: "e", usage: .init(promptTokens: 3)))
    }

    @Test func routerCallsRoundTrip() throws {
        let completion = ChatCompletionRequest(model: "local-chat", messages: [.user("hi")], maxTokens: 5, stream: false)
        _ = try roundTrip(RouterChatCall(requestID: "req_1", tenantID: UUID(), apiKeyID: UUID(), completion: completion))
        _ = try roundTrip(RouterEmbeddingsCall(requestID: "req_2", tenantID: UUID(), apiKeyID: nil,
                                               embeddings: EmbeddingsRequest(model: "e", input: .one("x"))))
        _ = try roundTrip(RouterModelsCall(tenantID: UUID()))
    }

    @Test func modelListsAndLimitsRoundTripWithOpenAIsKeys() throws {
        let list = ModelList(data: [ModelInfo(id: "local-chat", created: 1_700_000_000, capabilities: ["chat", "streaming"])])
        let json = String(decoding: try JSONCoding.encode(list), as: UTF8.self)
        #expect(json.contains(#""object":"list""#) && json.contains(#""owned_by":"switchyard""#) && json.contains(#""object":"model""#))
        _ = try roundTrip(list)
        let limits = QuotaLimits(requestsPerMinute: 60, tokensPerMonth: 1_000_000)
        _ = try roundTrip(limits)
        #expect(limits.invalidField == nil)
        #expect(QuotaLimits(requestsPerDay: 0).invalidField == "requests_per_day")
        #expect(QuotaLimits(tokensPerMinute: 1 << 60).invalidField == "tokens_per_minute")
    }

    @Test func anyJSONValueRoundTrips() throws {
        let value: JSONValue = .object(["a": .array([.integer(1), .number(2.5), .string("x"), .bool(true), .null]), "b": .object([:])])
        _ = try roundTrip(value)
    }

    @Test func derivedIDsRepeatForTheSameNameOnly() {
        let id = UUID.derived(from: "usage.recorded:req_1")
        #expect(id == UUID.derived(from: "usage.recorded:req_1"))
        #expect(id != UUID.derived(from: "usage.recorded:req_2"))
        #expect(id.uuidString.dropFirst(14).first == "8")  // version 8
        let variant = id.uuidString.dropFirst(19).first!
        #expect("89AB".contains(variant))
    }
}
