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

    static func catalog(_ format: Format, url: String) throws -> Catalog {
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
                    capabilities: [chat, streaming]
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
            let reply = try await bus.request(Subject.service(.router, RouterVerb.chat), payload: JSONCoding.encode(call), timeout: .seconds(10))
            let completion = try JSONCoding.decode(ChatCompletion.self, from: reply.payload)
            #expect(completion.object == "chat.completion" && completion.model == "conformance")
            #expect(completion.choices.first?.message.role == "assistant")
            #expect(completion.choices.first?.message.content?.text == testCase.tokens.joined())
            #expect(completion.choices.first?.finishReason == testCase.finishReason)
            #expect(completion.usage == TokenUsage(promptTokens: testCase.promptTokens, completionTokens: testCase.completionTokens))

            // As a stream.
            var chunks: [ChatCompletionChunk] = []
            let streamed = routerCall(tenant, model: "conformance", includeUsage: true)
            for try await message in try bus.requestStream(Subject.service(.router, RouterVerb.chatStream), payload: JSONCoding.encode(streamed), timeout: .seconds(10)) {
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

    @Test func anthropicRequestsCarryTheSystemPromptKeyVersionAndAMaxTokens() async throws {
        let fake = FakeAnthropicUpstream(.init(tokens: ["ok"], inputTokens: 1, outputTokens: 1, stopReason: "end_turn"))
        let (url, server) = try await fake.start()
        defer { server.cancel() }
        let tenant = UUID.timeOrdered()
        try await withRouter(catalog: Self.catalog(.anthropic, url: url), tenant: tenant, environment: ["CONFORMANCE_KEY": "sk-ant-test"]) { bus, _ in
            var call = routerCall(tenant, model: "conformance")
            call.completion.stop = .many(["END"])
            _ = try await bus.request(Subject.service(.router, RouterVerb.chat), payload: JSONCoding.encode(call), timeout: .seconds(10))
            let received = try #require(fake.requests.first)
            #expect(received.apiKey == "sk-ant-test" && received.version == "2023-06-01")
            #expect(received.body["system"] == .string("Be brief."))
            #expect(received.body["model"] == .string("upstream-anthropic"))
            #expect(received.body["max_tokens"] == .integer(4096))
            #expect(received.body["stop_sequences"] == .array([.string("END")]))
            #expect(received.body["messages"] == .array([.object(["role": .string("user"), "content": .string("What does the router do?")])]))
        }
    }
}
