import Contracts
import Foundation
import RouterService
import SwitchyardBus
import Testing

/// Both HTTP adapters, given the same upstream answer in their own format, must give the caller
/// the same OpenAI-shaped answer: a shared table, run as JSON and as a stream.
@Suite struct ProviderConformanceTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var tokens: [String]
        var promptTokens: Int
        var completionTokens: Int
        /// What the upstream says, in Anthropic's words; OpenAI's upstream says `finishReason`.
        var anthropicStopReason: String
        var finishReason: String
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "a finished answer", tokens: ["Hello", ", ", "world"], promptTokens: 11, completionTokens: 3,
             anthropicStopReason: "end_turn", finishReason: "stop"),
        Case(name: "an answer cut at its limit", tokens: ["Once", " upon"], promptTokens: 20, completionTokens: 2,
             anthropicStopReason: "max_tokens", finishReason: "length"),
        Case(name: "an answer ended by a stop sequence", tokens: ["1, 2, 3"], promptTokens: 5, completionTokens: 4,
             anthropicStopReason: "stop_sequence", finishReason: "stop"),
    ]

    enum Format: String, CaseIterable, Sendable { case openai, anthropic }

    /// Starts the fake upstream of `format` for `testCase`; returns its URL and a stopper.
    func upstream(_ format: Format, _ testCase: Case) async throws -> (String, Task<Void, any Error>) {
        switch format {
        case .openai:
            // The fake sends "stop" as its finish reason; for the limit case it is told to stop short.
            let fake = FakeOpenAIUpstream(.answer(tokens: testCase.tokens, usage: TokenUsage(promptTokens: testCase.promptTokens, completionTokens: testCase.completionTokens), finishReason: testCase.finishReason))
            return try await fake.start()
        case .anthropic:
            let fake = FakeAnthropicUpstream(.init(tokens: testCase.tokens, inputTokens: testCase.promptTokens, outputTokens: testCase.completionTokens, stopReason: testCase.anthropicStopReason))
            return try await fake.start()
        }
    }

    static func catalog(_ format: Format, url: String, capabilities: String = "chat, streaming") throws -> Catalog {
        try CatalogFile.parse("""
            models:
              conformance:
                deployments:
                  - name: \(format.rawValue)/conformance
                    provider: \(format.rawValue)
                    upstream_model: upstream-\(format.rawValue)
                    base_url: \(url)
                    credential_env: CONFORMANCE_KEY
                    price: {input_micros_per_million: 1000000, output_micros_per_million: 1000000}
                    context_window: 100000
                    capabilities: [\(capabilities)]
            """, file: "conformance catalog")
    }

    @Test(arguments: Format.allCases, cases)
    func theAnswerIsOpenAIShapedWhateverTheProvider(format: Format, testCase: Case) async throws {
        let (url, server) = try await upstream(format, testCase)
        defer { server.cancel() }
        let tenant = UUID.timeOrdered()
        try await withRouter(catalog: Self.catalog(format, url: url), tenant: tenant, environment: ["CONFORMANCE_KEY": "k"]) { bus, usage in
            // As JSON.
            let call = routerCall(tenant, model: "conformance")
            let reply = try await bus.request(Subject.service(.router, RouterVerb.chat), payload: JSONCoding.encode(call), timeout: TestEnvironment.replyTimeout)
            let completion = try JSONCoding.decode(ChatCompletion.self, from: reply.payload)
            #expect(completion.object == "chat.completion" && completion.model == "conformance")
            #expect(completion.choices.first?.message.role == "assistant")
            #expect(completion.choices.first?.message.content?.text == testCase.tokens.joined())
            #expect(completion.choices.first?.finishReason == testCase.finishReason)
            #expect(completion.usage == TokenUsage(promptTokens: testCase.promptTokens, completionTokens: testCase.completionTokens))

            // As a stream.
            var chunks: [ChatCompletionChunk] = []
            let streamed = routerCall(tenant, model: "conformance", includeUsage: true)
            for try await message in try bus.requestStream(Subject.service(.router, RouterVerb.chatStream), payload: JSONCoding.encode(streamed), timeout: TestEnvironment.replyTimeout) {
                chunks.append(try JSONCoding.decode(ChatCompletionChunk.self, from: message.payload))
            }
            #expect(chunks.allSatisfy { $0.object == "chat.completion.chunk" && $0.model == "conformance" })
            #expect(chunks.compactMap { $0.choices.first?.delta.content }.joined() == testCase.tokens.joined())
            #expect(chunks.dropLast().last?.choices.first?.finishReason == testCase.finishReason)
            #expect(chunks.last?.usage == TokenUsage(promptTokens: testCase.promptTokens, completionTokens: testCase.completionTokens))

            let events = await usage.next(2).map { try? $0.decode(UsageRecorded.self).payload }
            #expect(events.allSatisfy { $0?.promptTokens == testCase.promptTokens && $0?.completionTokens == testCase.completionTokens })
        }
    }

    /// After the first token nothing is retried: the caller gets the text so far, then the
    /// provider's own words for what went wrong.
    @Test func anAnthropicStreamThatReportsAnErrorEndsWithItsWords() async throws {
        let fake = FakeAnthropicUpstream(.init(tokens: ["Hel", "lo"], inputTokens: 3, outputTokens: 2, stopReason: "end_turn", errorAfterText: "overloaded_error"))
        let (url, server) = try await fake.start()
        defer { server.cancel() }
        let tenant = UUID.timeOrdered()
        try await withRouter(catalog: Self.catalog(.anthropic, url: url), tenant: tenant, environment: ["CONFORMANCE_KEY": "k"]) { bus, usage in
            let call = routerCall(tenant, model: "conformance")
            var text = ""
            let failure = await #expect(throws: BusError.self) {
                for try await message in try bus.requestStream(Subject.service(.router, RouterVerb.chatStream), payload: JSONCoding.encode(call), timeout: TestEnvironment.replyTimeout) {
                    text += try JSONCoding.decode(ChatCompletionChunk.self, from: message.payload).choices.first?.delta.content ?? ""
                }
            }
            #expect(text == "Hello")
            #expect(failure.map { "\($0)" }?.contains(#""type":"overloaded_error""#) == true, "\(String(describing: failure))")
            let event = try #require(await usage.next(1).first).decode(UsageRecorded.self).payload
            #expect(event.status == .failed)
        }
    }

    @Test func anthropicRequestsCarryTheSystemPromptKeyVersionAndAMaxTokens() async throws {
        let fake = FakeAnthropicUpstream(.init(tokens: ["ok"], inputTokens: 1, outputTokens: 1, stopReason: "end_turn"))
        let (url, server) = try await fake.start()
        defer { server.cancel() }
        let tenant = UUID.timeOrdered()
        try await withRouter(catalog: Self.catalog(.anthropic, url: url), tenant: tenant, environment: ["CONFORMANCE_KEY": "sk-ant-test"]) { bus, _ in
            var call = routerCall(tenant, model: "conformance")
            call.completion.stop = .many(["END"])
            _ = try await bus.request(Subject.service(.router, RouterVerb.chat), payload: JSONCoding.encode(call), timeout: TestEnvironment.replyTimeout)
            let received = try #require(fake.requests.first)
            #expect(received.apiKey == "sk-ant-test" && received.version == "2023-06-01")
            #expect(received.body["system"] == .string("Be brief."))
            #expect(received.body["model"] == .string("upstream-anthropic"))
            #expect(received.body["max_tokens"] == .integer(4096))
            #expect(received.body["stop_sequences"] == .array([.string("END")]))
            #expect(received.body["messages"] == .array([.object(["role": .string("user"), "content": .string("What does the router do?")])]))
        }
    }

    @Test func anthropicToolsAndToolCallsAreTranslatedBothWays() async throws {
        let input = #"{"city":"Hamburg"}"#
        let fake = FakeAnthropicUpstream(.init(
            tokens: ["Checking."], inputTokens: 40, outputTokens: 15, stopReason: "tool_use",
            toolUse: .init(id: "toolu_1", name: "get_weather", input: input)))
        let (url, server) = try await fake.start()
        defer { server.cancel() }
        let tenant = UUID.timeOrdered()
        let catalog = try Self.catalog(.anthropic, url: url, capabilities: "chat, streaming, tools")
        try await withRouter(catalog: catalog, tenant: tenant) { bus, _ in
            var call = routerCall(tenant, model: "conformance")
            let earlier = FakeOpenAIUpstream.toolCall(id: "call_0", name: "get_weather", arguments: #"{"city":"Berlin"}"#)
            call.completion.messages = [
                .system("Be brief."), .user("Weather in Berlin?"),
                ChatMessage(role: "assistant", content: nil, toolCalls: [earlier]),
                ChatMessage(role: "tool", content: .text("12 °C"), toolCallID: "call_0"),
                .user("And Hamburg?"),
            ]
            call.completion.tools = [ProviderAdapterTests.weatherTool]
            call.completion.toolChoice = .object(["type": .string("function"), "function": .object(["name": .string("get_weather")])])

            let reply = try await bus.request(Subject.service(.router, RouterVerb.chat), payload: JSONCoding.encode(call), timeout: TestEnvironment.replyTimeout)
            let choice = try #require(try JSONCoding.decode(ChatCompletion.self, from: reply.payload).choices.first)
            #expect(choice.message.content?.text == "Checking." && choice.finishReason == "tool_calls")
            #expect(choice.message.toolCalls == [FakeOpenAIUpstream.toolCall(id: "toolu_1", name: "get_weather", arguments: input)])

            let sent = try #require(fake.requests.first).body
            #expect(sent["tools"] == .array([.object([
                "name": .string("get_weather"), "description": .string("The weather in a city now."),
                "input_schema": .object(["type": .string("object"), "properties": .object(["city": .object(["type": .string("string")])])]),
            ])]))
            #expect(sent["tool_choice"] == .object(["type": .string("tool"), "name": .string("get_weather")]))
            #expect(sent["messages"] == .array([
                .object(["role": .string("user"), "content": .string("Weather in Berlin?")]),
                .object(["role": .string("assistant"), "content": .array([.object([
                    "type": .string("tool_use"), "id": .string("call_0"), "name": .string("get_weather"),
                    "input": .object(["city": .string("Berlin")]),
                ])])]),
                .object(["role": .string("user"), "content": .array([.object([
                    "type": .string("tool_result"), "tool_use_id": .string("call_0"), "content": .string("12 °C"),
                ])])]),
                .object(["role": .string("user"), "content": .string("And Hamburg?")]),
            ]))

            // Streamed: the call's id and name first, then its input in the fragments Anthropic sent.
            var chunks: [ChatCompletionChunk] = []
            for try await message in try bus.requestStream(Subject.service(.router, RouterVerb.chatStream), payload: JSONCoding.encode(call), timeout: TestEnvironment.replyTimeout) {
                chunks.append(try JSONCoding.decode(ChatCompletionChunk.self, from: message.payload))
            }
            let deltas = chunks.flatMap { $0.choices.first?.delta.toolCalls ?? [] }
            #expect(deltas.first == .object([
                "index": .integer(0), "id": .string("toolu_1"), "type": .string("function"),
                "function": .object(["name": .string("get_weather"), "arguments": .string("")]),
            ]))
            let fragments = deltas.dropFirst().compactMap { delta -> String? in
                guard case .object(let call) = delta, case .object(let function)? = call["function"], case .string(let text)? = function["arguments"] else { return nil }
                return text
            }
            #expect(fragments.joined() == input && fragments.count == 2)
            #expect(chunks.compactMap { $0.choices.first?.finishReason }.last == "tool_calls")
        }
    }
}
