import Contracts
import Foundation
import RouterService
import SwitchyardBus
import Testing

/// The router's endpoints over a real NATS, with the `local` model. Each test has a NATS server
/// of its own: the router subjects and queue group are fixed, and another router (a service
/// another test started) must not take its calls.
@Suite struct RouterServiceTests {
    static let catalog = try! CatalogFile.parse("""
        models:
          local-chat:
            deployments:
              - name: local/test-chat
                provider: local
                upstream_model: local-chat
                price: {input_micros_per_million: 500000, output_micros_per_million: 1500000}
                context_window: 4096
                capabilities: [chat, streaming]
          slow-chat:
            deployments:
              - name: local/slow-chat
                provider: local
                upstream_model: local-chat
                price: {input_micros_per_million: 1000000, output_micros_per_million: 2000000}
                context_window: 4096
                capabilities: [chat, streaming]
                tokens_per_second: 100
          local-embedding:
            deployments:
              - name: local/test-embedding
                provider: local
                upstream_model: local-embedding
                price: {input_micros_per_million: 20000, output_micros_per_million: 0}
                context_window: 100
                capabilities: [embeddings]
        """, file: "test catalog")

    func withRouter(tenant: UUID, _ body: (Bus, DeliveryLog) async throws -> Void) async throws {
        try await PlatformTests.withRouter(catalog: Self.catalog, tenant: tenant, body)
    }

    func call(_ tenant: UUID, model: String = "local-chat", maxTokens: Int? = nil, includeUsage: Bool = false) -> RouterChatCall {
        var completion = ChatCompletionRequest(model: model, messages: [.system("Be brief."), .user("What does the router do?")], maxTokens: maxTokens)
        if includeUsage { completion.streamOptions = StreamOptions(includeUsage: true) }
        return RouterChatCall(requestID: "req_\(UUID().uuidString.lowercased())", tenantID: tenant, apiKeyID: UUID(), completion: completion)
    }

    @Test func aChatCallIsAnsweredAndItsUsageRecordedOnceWithItsCost() async throws {
        let tenant = UUID.timeOrdered()
        try await withRouter(tenant: tenant) { bus, usage in
            let call = call(tenant)
            let reply = try await bus.request(Subject.service(.router, RouterVerb.chat), payload: JSONCoding.encode(call), timeout: TestEnvironment.replyTimeout)
            let completion = try JSONCoding.decode(ChatCompletion.self, from: reply.payload)
            let tokens = try #require(completion.usage)
            #expect(reply.headers[RouterHeader.deployment] == "local/test-chat")
            #expect(reply.headers[RouterHeader.totalTokens] == String(tokens.promptTokens + tokens.completionTokens))
            #expect(completion.choices.first?.message.role == "assistant")
            #expect(completion.choices.first?.finishReason == "stop")
            #expect(tokens.promptTokens == LocalModel().promptTokens(call.completion.messages))

            let event = try #require(await usage.next(1).first).decode(UsageRecorded.self)
            #expect(event.id == UUID.derived(from: "usage.recorded:\(call.requestID)"))
            #expect(event.payload.requestID == call.requestID && event.payload.apiKeyID == call.apiKeyID)
            #expect(event.payload.deployment == "local/test-chat" && event.payload.status == .succeeded)
            #expect(event.payload.promptTokens == tokens.promptTokens && event.payload.completionTokens == tokens.completionTokens)
            let expectedCost = (Int64(tokens.promptTokens) * 500_000 + Int64(tokens.completionTokens) * 1_500_000 + 500_000) / 1_000_000
            #expect(event.payload.costMicros == expectedCost && expectedCost > 0)
            #expect(reply.headers[RouterHeader.costMicros] == String(expectedCost))
        }
    }

    @Test func theModelsCallListsTheCatalogWithCapabilities() async throws {
        let tenant = UUID.timeOrdered()
        try await withRouter(tenant: tenant) { bus, _ in
            let reply = try await bus.request(
                Subject.service(.router, RouterVerb.models), payload: JSONCoding.encode(RouterModelsCall(tenantID: tenant)), timeout: TestEnvironment.replyTimeout)
            let list = try JSONCoding.decode(ModelList.self, from: reply.payload)
            #expect(list.data.map(\.id) == ["local-chat", "local-embedding", "slow-chat"])
            #expect(list.data.first { $0.id == "local-embedding" }?.capabilities == ["embeddings"])
            #expect(list.data.first { $0.id == "local-chat" }?.capabilities == ["chat", "streaming"])
        }
    }

    @Test func aStreamArrivesAsChunksEndingWithFinishReasonAndUsage() async throws {
        let tenant = UUID.timeOrdered()
        try await withRouter(tenant: tenant) { bus, usage in
            let call = call(tenant, maxTokens: 6, includeUsage: true)
            var chunks: [ChatCompletionChunk] = []
            var firstHeaders: [String: String]?
            for try await message in try bus.requestStream(Subject.service(.router, RouterVerb.chatStream), payload: JSONCoding.encode(call), timeout: TestEnvironment.replyTimeout) {
                firstHeaders = firstHeaders ?? message.headers
                chunks.append(try JSONCoding.decode(ChatCompletionChunk.self, from: message.payload))
            }
            #expect(firstHeaders?[RouterHeader.deployment] == "local/test-chat")
            #expect(chunks.first?.choices.first?.delta.role == "assistant")
            let content = chunks.compactMap { $0.choices.first?.delta.content }.filter { !$0.isEmpty }
            #expect(content.count == 6)
            #expect(chunks.dropLast().last?.choices.first?.finishReason == "length")
            #expect(chunks.last?.choices.isEmpty == true && chunks.last?.usage?.completionTokens == 6)
            let event = try #require(await usage.next(1).first).decode(UsageRecorded.self)
            #expect(event.payload.completionTokens == 6 && event.payload.status == .succeeded && event.payload.ttftMs != nil)
        }
    }

    @Test func aStreamTheCallerLeavesIsStoppedAndStillRecorded() async throws {
        let tenant = UUID.timeOrdered()
        try await withRouter(tenant: tenant) { bus, usage in
            let call = call(tenant, model: "slow-chat")  // 100 tokens per second: the caller leaves mid-way
            var received = 0
            for try await _ in try bus.requestStream(Subject.service(.router, RouterVerb.chatStream), payload: JSONCoding.encode(call), timeout: TestEnvironment.replyTimeout) {
                received += 1
                if received == 4 { break }  // the role chunk and three tokens
            }
            let event = try #require(await usage.next(1).first).decode(UsageRecorded.self)
            let full = LocalModel().reply(to: call.completion.messages, limit: nil).tokens.count
            #expect(event.payload.status == .cancelled)
            #expect(event.payload.completionTokens >= 3 && event.payload.completionTokens < full)
            #expect(event.payload.costMicros > 0)
        }
    }

    @Test func aCallWithToolsIsRefusedByAModelWhoseDeploymentsCannotCallThem() async throws {
        let tenant = UUID.timeOrdered()
        try await withRouter(tenant: tenant) { bus, _ in
            var call = routerCall(tenant, model: "local-chat")
            call.completion.tools = [.object(["type": .string("function"), "function": .object(["name": .string("noop")])])]
            await #expect {
                try await bus.request(Subject.service(.router, RouterVerb.chat), payload: JSONCoding.encode(call), timeout: TestEnvironment.replyTimeout)
            } throws: { error in
                guard case BusError.remote(let fault) = error else { return false }
                return fault.code == "unsupported_model" && fault.param == "model" && fault.message.contains("tools")
            }
        }
    }

    @Test func embeddingsAreAnsweredPerInputAndRecorded() async throws {
        let tenant = UUID.timeOrdered()
        try await withRouter(tenant: tenant) { bus, usage in
            var request = EmbeddingsRequest(model: "local-embedding", input: .many(["budgets stay exact", "offline demos"]))
            request.dimensions = 64
            let call = RouterEmbeddingsCall(requestID: "req_\(UUID().uuidString)", tenantID: tenant, apiKeyID: nil, embeddings: request)
            let reply = try await bus.request(Subject.service(.router, RouterVerb.embeddings), payload: JSONCoding.encode(call), timeout: TestEnvironment.replyTimeout)
            let response = try JSONCoding.decode(EmbeddingsResponse.self, from: reply.payload)
            #expect(response.data.map(\.index) == [0, 1] && response.data.allSatisfy { $0.embedding.values?.count == 64 })
            #expect(response.usage.promptTokens == LocalTokenizer.count("budgets stay exact") + LocalTokenizer.count("offline demos"))
            #expect(reply.headers[RouterHeader.totalTokens] == String(response.usage.totalTokens))
            let event = try #require(await usage.next(1).first).decode(UsageRecorded.self)
            #expect(event.payload.promptTokens == response.usage.promptTokens && event.payload.completionTokens == 0)
            #expect(event.payload.deployment == "local/test-embedding" && event.payload.model == "local-embedding")

            let tooLong = RouterEmbeddingsCall(requestID: "req_long", tenantID: tenant, apiKeyID: nil,
                                               embeddings: EmbeddingsRequest(model: "local-embedding", input: .one(String(repeating: "word ", count: 200))))
            await #expect {
                try await bus.request(Subject.service(.router, RouterVerb.embeddings), payload: JSONCoding.encode(tooLong), timeout: TestEnvironment.replyTimeout)
            } throws: { error in
                guard case BusError.remote(let fault) = error else { return false }
                return fault.code == "context_length_exceeded" && fault.param == "input"
            }
        }
    }

    @Test func anUnknownModelIsAFaultNamingTheField() async throws {
        let tenant = UUID.timeOrdered()
        try await withRouter(tenant: tenant) { bus, _ in
            let call = call(tenant, model: "gpt-imaginary")
            await #expect {
                try await bus.request(Subject.service(.router, RouterVerb.chat), payload: JSONCoding.encode(call), timeout: TestEnvironment.replyTimeout)
            } throws: { error in
                guard case BusError.remote(let fault) = error else { return false }
                return fault.code == "model_not_found" && fault.param == "model"
            }
        }
    }
}

@Suite struct RouterProcessTests {
    @Test func theCLIReloadsTheCatalogOfARunningRouterAndFailsOnABadFile() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("catalog-\(UUID().uuidString).yaml")
        defer { try? FileManager.default.removeItem(at: file) }
        try writeLocalCatalog(["before"], to: file)
        let (server, nats) = try await PrivateNATSServer.started()
        defer {
            nats.kill()
            try? FileManager.default.removeItem(at: server.directory)
        }
        let router = try ChildProcess("router", environment: [
            "NATS_URL": server.url, "SWITCHYARD_CATALOG": file.path, "SWITCHYARD_ROUTER_OPS_PORT": String(freePort()),
            "SWITCHYARD_INSTANCE": "router-cli-test", "SWITCHYARD_LOG_LEVEL": "error",
        ])
        defer { router.kill() }
        let environment = TestEnvironment.variables.merging(["NATS_URL": server.url]) { _, new in new }
        func reload() async throws -> (status: Int32, output: String) {
            try await runProcess(TestEnvironment.executable("switchyard"), arguments: ["catalog", "reload"], environment: environment)
        }
        try writeLocalCatalog(["before", "after"], to: file)
        var reloaded: (status: Int32, output: String) = (-1, "")
        // The router may still be starting: it answers once it serves.
        _ = try await eventually(timeout: .seconds(20)) {
            reloaded = try await reload()
            return reloaded.status == 0
        }
        #expect(reloaded.status == 0 && reloaded.output.contains("router-cli-test  reloaded  after,before"), "\(reloaded.output)")

        try "models: [".write(to: file, atomically: true, encoding: .utf8)
        let refused = try await reload()
        #expect(refused.status != 0 && refused.output.contains("router-cli-test  failed  after,before"), "\(refused.output)")
    }

    @Test func sighupReloadsTheCatalogAndABadFileKeepsTheOldOne() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("catalog-\(UUID().uuidString).yaml")
        defer { try? FileManager.default.removeItem(at: file) }
        func write(_ model: String) throws { try writeLocalCatalog([model], to: file) }
        try write("before")
        let (server, nats) = try await PrivateNATSServer.started()
        defer {
            nats.kill()
            try? FileManager.default.removeItem(at: server.directory)
        }
        let router = try ChildProcess("router", environment: [
            "NATS_URL": server.url, "SWITCHYARD_CATALOG": file.path, "SWITCHYARD_ROUTER_OPS_PORT": String(freePort()),
            "SWITCHYARD_LOG_LEVEL": "error",
        ])
        try await withBus(url: server.url) { bus in
            let tenant = UUID.timeOrdered()
            func answers(_ model: String) async -> Bool {
                (try? await bus.request(
                    Subject.service(.router, RouterVerb.chat), payload: JSONCoding.encode(routerCall(tenant, model: model)), timeout: .seconds(2))) != nil
            }
            #expect(try await eventually(timeout: .seconds(20)) { await answers("before") }, "the router never answered")

            try write("after")
            kill(router.process.processIdentifier, SIGHUP)
            #expect(try await eventually(timeout: .seconds(10)) { await answers("after") }, "SIGHUP did not reload")
            #expect(await !answers("before"))

            try "models:\n  broken: [".write(to: file, atomically: true, encoding: .utf8)
            kill(router.process.processIdentifier, SIGHUP)
            try await Task.sleep(for: .milliseconds(300))  // the reload runs in the router; nothing to await from here
            #expect(await answers("after"), "a bad file replaced the catalog in force")
            #expect(router.isRunning)
        }
        #expect(await router.terminate() == 0)
    }
}
