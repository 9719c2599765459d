import Contracts
import Foundation
import RouterService
import SwitchyardBus
import Testing

/// The OpenAI-compatible adapter against a fake upstream on loopback, through the router.
@Suite struct ProviderAdapterTests {
    /// `remote-chat` and `remote-embedding`, each served by `primary` and, when given, by
    /// `secondary` as its fallback.
    static func catalog(primary: String, secondary: String? = nil) throws -> Catalog {
        func deployment(_ name: String, _ upstreamModel: String, _ url: String, key: Bool, price: Int, capabilities: String) -> String {
            """
                  - name: \(name)
                    provider: openai
                    upstream_model: \(upstreamModel)
                    base_url: \(url)
            \(key ? "        credential_env: FAKE_UPSTREAM_KEY\n" : "")        price: {input_micros_per_million: \(price), output_micros_per_million: \(2 * price)}
                    context_window: 8192
                    capabilities: [\(capabilities)]

            """
        }
        var chat = deployment("remote/primary", "upstream-model-a", primary, key: true, price: 1_000_000, capabilities: "chat, streaming, tools")
        var embedding = deployment("remote/embed-primary", "upstream-embed-a", primary, key: true, price: 100_000, capabilities: "embeddings")
        if let secondary {
            chat += deployment("remote/secondary", "upstream-model-b", secondary, key: false, price: 3_000_000, capabilities: "chat, streaming, tools")
            embedding += deployment("remote/embed-secondary", "upstream-embed-b", secondary, key: false, price: 200_000, capabilities: "embeddings")
        }
        let yaml = "models:\n  remote-chat:\n    deployments:\n" + chat + "  remote-embedding:\n    deployments:\n" + embedding
        return try CatalogFile.parse(yaml, file: "adapter test catalog")
    }

    static let environment = ["FAKE_UPSTREAM_KEY": "sk-upstream-secret"]

    func streamText(_ bus: Bus, _ call: RouterChatCall) async throws -> (String, [ChatCompletionChunk]) {
        var chunks: [ChatCompletionChunk] = []
        for try await message in try bus.requestStream(Subject.service(.router, RouterVerb.chatStream), payload: JSONCoding.encode(call), timeout: TestEnvironment.replyTimeout) {
            chunks.append(try JSONCoding.decode(ChatCompletionChunk.self, from: message.payload))
        }
        return (chunks.compactMap { $0.choices.first?.delta.content }.joined(), chunks)
    }

    @Test func aJSONAnswerIsRelayedWithTheProvidersUsage() async throws {
        let upstream = FakeOpenAIUpstream(.answer(tokens: ["Hello", " from", " upstream"], usage: TokenUsage(promptTokens: 12, completionTokens: 5)))
        let (url, server) = try await upstream.start()
        defer { server.cancel() }
        let tenant = UUID.timeOrdered()
        try await withRouter(catalog: Self.catalog(primary: url), tenant: tenant, environment: Self.environment) { bus, usage in
            var call = routerCall(tenant, model: "remote-chat")
            // Parameters Switchyard does not name reach the provider as the caller sent them.
            call.completion.otherParameters = ["parallel_tool_calls": .bool(false), "reasoning_effort": .string("low")]
            let reply = try await bus.request(Subject.service(.router, RouterVerb.chat), payload: JSONCoding.encode(call), timeout: TestEnvironment.replyTimeout)
            let completion = try JSONCoding.decode(ChatCompletion.self, from: reply.payload)
            #expect(completion.choices.first?.message.content?.text == "Hello from upstream")
            #expect(completion.model == "remote-chat")
            #expect(completion.usage == TokenUsage(promptTokens: 12, completionTokens: 5))
            #expect(upstream.requests.first?.body?.model == "upstream-model-a")
            #expect(upstream.requests.first?.body?.otherParameters == call.completion.otherParameters)
            #expect(upstream.requests.first?.authorization == "Bearer sk-upstream-secret")
            let event = try #require(await usage.next(1).first).decode(UsageRecorded.self).payload
            #expect(event.promptTokens == 12 && event.completionTokens == 5 && event.deployment == "remote/primary")
            #expect(event.costMicros == 22)  // 12 × $1/M + 5 × $2/M = 22 µ$
        }
    }

    @Test func aStreamIsRelayedChunkByChunkWithTheProvidersUsage() async throws {
        let upstream = FakeOpenAIUpstream(.answer(tokens: ["Hel", "lo", "!"], usage: TokenUsage(promptTokens: 7, completionTokens: 3)))
        let (url, server) = try await upstream.start()
        defer { server.cancel() }
        let tenant = UUID.timeOrdered()
        try await withRouter(catalog: Self.catalog(primary: url), tenant: tenant, environment: Self.environment) { bus, usage in
            let (text, chunks) = try await streamText(bus, routerCall(tenant, model: "remote-chat", includeUsage: true))
            #expect(text == "Hello!")
            #expect(chunks.dropLast().last?.choices.first?.finishReason == "stop")
            #expect(chunks.last?.usage == TokenUsage(promptTokens: 7, completionTokens: 3))
            #expect(upstream.requests.first?.body?.stream == true && upstream.requests.first?.body?.streamOptions?.includeUsage == true)
            let event = try #require(await usage.next(1).first).decode(UsageRecorded.self).payload
            #expect(event.completionTokens == 3 && event.status == .succeeded && event.ttftMs != nil)
        }
    }

    static let weatherTool = JSONValue.object([
        "type": .string("function"),
        "function": .object([
            "name": .string("get_weather"), "description": .string("The weather in a city now."),
            "parameters": .object(["type": .string("object"), "properties": .object(["city": .object(["type": .string("string")])])]),
        ]),
    ])

    @Test func toolCallsAreRelayedWholeAndAsStreamedDeltas() async throws {
        let arguments = #"{"city":"Hamburg","unit":"celsius"}"#
        let upstream = FakeOpenAIUpstream(.toolCall(id: "call_7", name: "get_weather", arguments: arguments))
        let (url, server) = try await upstream.start()
        defer { server.cancel() }
        let tenant = UUID.timeOrdered()
        try await withRouter(catalog: Self.catalog(primary: url), tenant: tenant, environment: Self.environment) { bus, usage in
            var call = routerCall(tenant, model: "remote-chat")
            call.completion.tools = [Self.weatherTool]
            call.completion.toolChoice = .string("auto")
            let reply = try await bus.request(Subject.service(.router, RouterVerb.chat), payload: JSONCoding.encode(call), timeout: TestEnvironment.replyTimeout)
            let choice = try #require(try JSONCoding.decode(ChatCompletion.self, from: reply.payload).choices.first)
            #expect(choice.message.toolCalls == [FakeOpenAIUpstream.toolCall(id: "call_7", name: "get_weather", arguments: arguments)])
            #expect(choice.message.content == nil && choice.finishReason == "tool_calls")
            #expect(upstream.requests.first?.body?.tools == [Self.weatherTool] && upstream.requests.first?.body?.toolChoice == .string("auto"))
            #expect(try #require(await usage.next(1).first).decode(UsageRecorded.self).payload.completionTokens == 12)

            // Streamed: the deltas as the provider sent them, the arguments in their fragments.
            let (text, chunks) = try await streamText(bus, call)
            let deltas = chunks.flatMap { $0.choices.first?.delta.toolCalls ?? [] }
            func field(_ delta: JSONValue, _ path: String...) -> String? {
                var value: JSONValue? = delta
                for key in path { if case .object(let object)? = value { value = object[key] } else { return nil } }
                if case .string(let text)? = value { return text }
                return nil
            }
            #expect(text.isEmpty && deltas.count == 3)
            #expect(field(deltas[0], "id") == "call_7" && field(deltas[0], "function", "name") == "get_weather")
            #expect(deltas.compactMap { field($0, "function", "arguments") }.joined() == arguments)
            #expect(chunks.compactMap { $0.choices.first?.finishReason }.last == "tool_calls")
        }
    }

    func embed(_ bus: Bus, _ tenant: UUID, _ inputs: [String], format: String? = nil) async throws -> EmbeddingsResponse {
        var request = EmbeddingsRequest(model: "remote-embedding", input: .many(inputs))
        request.encodingFormat = format
        let call = RouterEmbeddingsCall(requestID: "req_\(UUID().uuidString.lowercased())", tenantID: tenant, apiKeyID: nil, embeddings: request)
        let reply = try await bus.request(Subject.service(.router, RouterVerb.embeddings), payload: JSONCoding.encode(call), timeout: TestEnvironment.replyTimeout)
        return try JSONCoding.decode(EmbeddingsResponse.self, from: reply.payload)
    }

    @Test func embeddingsComeFromTheProviderInTheFormatTheCallerAsked() async throws {
        let upstream = FakeOpenAIUpstream(.answer(tokens: [], usage: TokenUsage(promptTokens: 9, completionTokens: 0)))
        let (url, server) = try await upstream.start()
        defer { server.cancel() }
        let tenant = UUID.timeOrdered()
        try await withRouter(catalog: Self.catalog(primary: url), tenant: tenant, environment: Self.environment) { bus, usage in
            // The fake answers floats whatever it is asked: the router turns them into base64.
            let response = try await embed(bus, tenant, ["ship the parcel", "track it"], format: "base64")
            #expect(response.data.map(\.index) == [0, 1])
            #expect(response.data.map(\.embedding) == [0, 1].map { EmbeddingVector(FakeOpenAIUpstream.embedding($0), format: .base64) })
            #expect(response.model == "remote-embedding" && response.usage.promptTokens == 9)
            let asked = try #require(upstream.embeddingRequests.first)
            #expect(asked.model == "upstream-embed-a" && asked.input.values == ["ship the parcel", "track it"])
            let event = try #require(await usage.next(1).first).decode(UsageRecorded.self).payload
            #expect(event.deployment == "remote/embed-primary" && event.promptTokens == 9 && event.status == .succeeded)
            #expect(event.costMicros == 1)  // 9 × $0.10/M = 0.9 µ$, to the nearest micro-dollar
        }
    }

    @Test func embeddingsFailOverToTheNextDeploymentAndCountTokensWhenTheProviderDoesNot() async throws {
        let primary = FakeOpenAIUpstream(.fail(status: 503))
        let secondary = FakeOpenAIUpstream(.answer(tokens: [], usage: nil))
        let (primaryURL, primaryServer) = try await primary.start()
        let (secondaryURL, secondaryServer) = try await secondary.start()
        defer { primaryServer.cancel(); secondaryServer.cancel() }
        let tenant = UUID.timeOrdered()
        try await withRouter(catalog: Self.catalog(primary: primaryURL, secondary: secondaryURL), tenant: tenant) { bus, usage in
            let response = try await embed(bus, tenant, ["where is my parcel"])
            #expect(response.data.first?.embedding == .floats(FakeOpenAIUpstream.embedding(0)))
            #expect(response.usage.promptTokens == LocalTokenizer.count("where is my parcel"))
            #expect(primary.embeddingRequests.count == 1 && secondary.embeddingRequests.first?.model == "upstream-embed-b")
            let event = try #require(await usage.next(1).first).decode(UsageRecorded.self).payload
            #expect(event.deployment == "remote/embed-secondary")
        }
    }

    @Test func aFailingPrimaryFailsOverToTheSecondary() async throws {
        let primary = FakeOpenAIUpstream(.fail(status: 503))
        let secondary = FakeOpenAIUpstream(.answer(tokens: ["backup"], usage: TokenUsage(promptTokens: 4, completionTokens: 1)))
        let (primaryURL, primaryServer) = try await primary.start()
        let (secondaryURL, secondaryServer) = try await secondary.start()
        defer { primaryServer.cancel(); secondaryServer.cancel() }
        let tenant = UUID.timeOrdered()
        try await withRouter(catalog: Self.catalog(primary: primaryURL, secondary: secondaryURL), tenant: tenant) { bus, usage in
            let (text, _) = try await streamText(bus, routerCall(tenant, model: "remote-chat"))
            #expect(text == "backup")
            // The primary is tried twice (a retry after its 503), then the secondary answers.
            #expect(primary.requests.count == 2 && secondary.requests.count == 1)
            #expect(secondary.requests.first?.body?.model == "upstream-model-b")
            let event = try #require(await usage.next(1).first).decode(UsageRecorded.self).payload
            #expect(event.deployment == "remote/secondary" && event.status == .succeeded)
        }
    }

    @Test func anOpenBreakerSendsTrafficStraightToTheNextDeployment() async throws {
        let primary = FakeOpenAIUpstream(.fail(status: 500))
        let secondary = FakeOpenAIUpstream(.answer(tokens: ["ok"], usage: TokenUsage(promptTokens: 1, completionTokens: 1)))
        let (primaryURL, primaryServer) = try await primary.start()
        let (secondaryURL, secondaryServer) = try await secondary.start()
        defer { primaryServer.cancel(); secondaryServer.cancel() }
        let tenant = UUID.timeOrdered()
        try await withRouter(catalog: Self.catalog(primary: primaryURL, secondary: secondaryURL), tenant: tenant) { bus, _ in
            for _ in 0..<12 {
                let reply = try await bus.request(
                    Subject.service(.router, RouterVerb.chat), payload: JSONCoding.encode(routerCall(tenant, model: "remote-chat")), timeout: TestEnvironment.replyTimeout)
                #expect(try JSONCoding.decode(ChatCompletion.self, from: reply.payload).choices.first?.message.content?.text == "ok")
            }
            // Five failures (two calls with a retry each, then one more) open the primary's
            // breaker; the calls after that skip it.
            #expect(primary.requests.count == 5)
            #expect(secondary.requests.count == 12)
        }
    }

    @Test func aCallWith200MillisecondsLeftTimesOutByThenAndStopsTheUpstream() async throws {
        let upstream = FakeOpenAIUpstream(.hang)
        let (url, server) = try await upstream.start()
        defer { server.cancel() }
        let tenant = UUID.timeOrdered()
        try await withRouter(catalog: Self.catalog(primary: url), tenant: tenant, environment: Self.environment) { bus, _ in
            // The tenant's first call reads its routing overrides; made here, so the deadline
            // below is spent on the upstream alone.
            _ = try await bus.request(Subject.service(.router, RouterVerb.models), payload: JSONCoding.encode(RouterModelsCall(tenantID: tenant)),
                                      timeout: TestEnvironment.replyTimeout)
            let subject = Subject.service(.router, RouterVerb.chatStream)
            let started = ContinuousClock.now
            await #expect(throws: BusError.timedOut(subject: subject)) {
                for try await _ in try bus.requestStream(subject, payload: JSONCoding.encode(routerCall(tenant, model: "remote-chat")), timeout: .milliseconds(200)) {}
            }
            let waited = started.duration(to: .now)
            // The bound is the deadline; the slack is for a shared, noisy machine, not for work.
            #expect(waited < .seconds(2), "answered after \(waited)")
            // On a loaded machine the deadline can pass before the router reaches the upstream;
            // either way, no upstream request may outlive it, nor start after it.
            try await Task.sleep(for: .milliseconds(500))
            let stopped = try await eventually(timeout: .seconds(10)) { upstream.requests.count == upstream.abandonedCount }
            #expect(stopped, "an upstream request outlived the deadline: \(upstream.requests.count) made, \(upstream.abandonedCount) stopped")
        }
    }

    @Test func aServerErrorIsRetriedOnceOnTheSameDeployment() async throws {
        let upstream = FakeOpenAIUpstream([.fail(status: 502), .answer(tokens: ["second", " try"], usage: TokenUsage(promptTokens: 3, completionTokens: 2))])
        let (url, server) = try await upstream.start()
        defer { server.cancel() }
        let tenant = UUID.timeOrdered()
        try await withRouter(catalog: Self.catalog(primary: url), tenant: tenant, environment: Self.environment) { bus, _ in
            let reply = try await bus.request(
                Subject.service(.router, RouterVerb.chat), payload: JSONCoding.encode(routerCall(tenant, model: "remote-chat")), timeout: TestEnvironment.replyTimeout)
            #expect(try JSONCoding.decode(ChatCompletion.self, from: reply.payload).choices.first?.message.content?.text == "second try")
            #expect(upstream.requests.count == 2)
        }
    }

    @Test func retryAfterPausesTheDeploymentInsteadOfRetryingIt() async throws {
        let upstream = FakeOpenAIUpstream(.fail(status: 429, retryAfter: 30))
        let (url, server) = try await upstream.start()
        defer { server.cancel() }
        let tenant = UUID.timeOrdered()
        try await withRouter(catalog: Self.catalog(primary: url), tenant: tenant, environment: Self.environment) { bus, _ in
            for _ in 0..<2 {
                await #expect {
                    try await bus.request(
                        Subject.service(.router, RouterVerb.chat), payload: JSONCoding.encode(routerCall(tenant, model: "remote-chat")), timeout: TestEnvironment.replyTimeout)
                } throws: { error in
                    guard case BusError.remote(let fault) = error else { return false }
                    return fault.code == "upstream_unavailable"
                }
            }
            // One request: no retry after the 429, and the second call found the deployment cooling down.
            #expect(upstream.requests.count == 1)
        }
    }

    @Test func aClientErrorIsNotFailedOver() async throws {
        let primary = FakeOpenAIUpstream(.fail(status: 400))
        let secondary = FakeOpenAIUpstream(.answer(tokens: ["never"], usage: nil))
        let (primaryURL, primaryServer) = try await primary.start()
        let (secondaryURL, secondaryServer) = try await secondary.start()
        defer { primaryServer.cancel(); secondaryServer.cancel() }
        let tenant = UUID.timeOrdered()
        try await withRouter(catalog: Self.catalog(primary: primaryURL, secondary: secondaryURL), tenant: tenant) { bus, _ in
            await #expect {
                try await bus.request(Subject.service(.router, RouterVerb.chat), payload: JSONCoding.encode(routerCall(tenant, model: "remote-chat")), timeout: TestEnvironment.replyTimeout)
            } throws: { error in
                guard case BusError.remote(let fault) = error else { return false }
                return fault.code == "upstream_error"
            }
            #expect(secondary.requests.isEmpty)
        }
    }

    @Test func noRetryOnceTheFirstTokenWasSent() async throws {
        let primary = FakeOpenAIUpstream(.breakAfter(tokens: ["partial"]))
        let secondary = FakeOpenAIUpstream(.answer(tokens: ["duplicate"], usage: nil))
        let (primaryURL, primaryServer) = try await primary.start()
        let (secondaryURL, secondaryServer) = try await secondary.start()
        defer { primaryServer.cancel(); secondaryServer.cancel() }
        let tenant = UUID.timeOrdered()
        try await withRouter(catalog: Self.catalog(primary: primaryURL, secondary: secondaryURL), tenant: tenant) { bus, usage in
            var received = ""
            await #expect(throws: BusError.self) {
                for try await message in try bus.requestStream(
                    Subject.service(.router, RouterVerb.chatStream), payload: JSONCoding.encode(routerCall(tenant, model: "remote-chat")), timeout: TestEnvironment.replyTimeout
                ) {
                    received += (try JSONCoding.decode(ChatCompletionChunk.self, from: message.payload)).choices.first?.delta.content ?? ""
                }
            }
            #expect(received == "partial")
            #expect(secondary.requests.isEmpty, "the call was retried after its first token")
            let event = try #require(await usage.next(1).first).decode(UsageRecorded.self).payload
            #expect(event.status == .failed && event.completionTokens == 1 && event.deployment == "remote/primary")
        }
    }

    @Test func aCancelledStreamCancelsTheUpstreamRequestAndIsStillRecorded() async throws {
        let upstream = FakeOpenAIUpstream(.answer(tokens: Array(repeating: " tok", count: 200), usage: nil, pace: .milliseconds(20)))
        let (url, server) = try await upstream.start()
        defer { server.cancel() }
        let tenant = UUID.timeOrdered()
        try await withRouter(catalog: Self.catalog(primary: url), tenant: tenant, environment: Self.environment) { bus, usage in
            var received = 0
            for try await _ in try bus.requestStream(
                Subject.service(.router, RouterVerb.chatStream), payload: JSONCoding.encode(routerCall(tenant, model: "remote-chat")), timeout: TestEnvironment.replyTimeout
            ) {
                received += 1
                if received == 4 { break }
            }
            let upstreamStopped = try await eventually(timeout: .seconds(10)) { upstream.abandonedCount > 0 }
            #expect(upstreamStopped, "the upstream kept streaming to nobody")
            let event = try #require(await usage.next(1).first).decode(UsageRecorded.self).payload
            #expect(event.status == .cancelled)
            #expect(event.completionTokens >= 3 && event.completionTokens < 200)
        }
    }
}
