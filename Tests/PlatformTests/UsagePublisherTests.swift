import Contracts
import Foundation
@testable import RouterService
import ServiceLifecycle
import Synchronization
import SwitchyardBus
import Testing

@Suite struct UsagePublisherTests {
    @Test func gracefulShutdownWaitsUntilTheUsageEventsUnderWayAreStored() async throws {
        try await PrivateNATSServer.running { server, process in
            let bus = try await Bus.connect(.init(url: server.url, name: "tests"), logger: TestEnvironment.logger)
            try await bus.ensureStreams()
            let publisher = UsagePublisher(bus: bus, logger: TestEnvironment.logger)
            let group = ServiceGroup(configuration: .init(services: [.init(service: publisher)], logger: TestEnvironment.logger))
            let stopped = Atomic(false)
            let running = Task {
                try await group.run()
                stopped.store(true, ordering: .sequentiallyConsistent)
            }

            // JetStream cannot acknowledge while the server is paused: the event stays under way.
            process.pause()
            let deployment = Deployment(
                name: "local/local-chat", provider: .local, upstreamModel: "local-chat", baseURL: nil, credentialVariable: nil,
                price: Price(inputMicrosPerMillion: 1_000_000, outputMicrosPerMillion: 2_000_000), contextWindow: 8192,
                capabilities: [.chat], tokensPerSecond: 0, weight: 1)
            let record = CallRecord(
                deployment: deployment, price: deployment.price, promptTokens: 10, completionTokens: 5,
                started: .now, startedAt: Date(), firstToken: nil, status: .succeeded)
            publisher.publish(record, requestID: "req_drain", tenantID: UUID.timeOrdered(), apiKeyID: nil, model: "local-chat")
            await group.triggerGracefulShutdown()
            try await Task.sleep(for: .milliseconds(500))
            let stoppedEarly = stopped.load(ordering: .sequentiallyConsistent)
            #expect(!stoppedEarly, "the publisher stopped with an event under way")

            process.resume()
            try await running.value
            let stored = try await bus.streamState(StreamSpec.events.name)
            #expect(stored.messages == 1, "the event was not stored by the time the publisher stopped")
            await bus.close()
        }
    }
}
