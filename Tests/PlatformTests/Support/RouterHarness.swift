import AsyncHTTPClient
import Contracts
import Foundation
import RouterService
import ServiceLifecycle
import SwitchyardBus
import SwitchyardDatabase
import Testing

/// Runs the router's responders for `catalog` on a NATS server of the test's own, with a
/// consumer that collects the `usage.recorded` events of `tenant`, and tenants' routing
/// overrides from the shared PostgreSQL. The router subjects and queue group are fixed: on the
/// shared server another router (a service another test started) could take the calls.
func withRouter(
    catalog: Catalog, tenant: UUID, environment: [String: String] = [:], _ body: (Bus, DeliveryLog) async throws -> Void
) async throws {
    try await withDatabase { database in
        try await withRouter(
            catalogStore: CatalogStore(catalog, path: "(test catalog)"), database: database, tenant: tenant, environment: environment, body)
    }
}

/// The same, serving a catalog file, which a reload reads again, with the overrides in `database`.
func withRouter(
    catalogStore: CatalogStore, database: Database, tenant: UUID, environment: [String: String] = [:],
    _ body: (Bus, DeliveryLog) async throws -> Void
) async throws {
    try await withPrivateBus(tenant: tenant) { bus, usage in
        let services = routerServices(bus: bus, catalogStore: catalogStore, database: database, environment: environment)
        try await withRunning(services) {
            let verbs = [RouterVerb.chat, RouterVerb.chatStream, RouterVerb.embeddings, RouterVerb.models, RouterVerb.reloadCatalog, RouterVerb.checkRouting]
            for verb in verbs {
                try await awaitResponder(bus, Subject.service(.router, verb))
            }
            try await body(bus, usage)
        }
    }
}

/// The router's listeners and responders on `bus`.
func routerServices(
    bus: Bus, catalogStore: CatalogStore, database: Database, environment: [String: String] = [:]
) -> [any Service] {
    let catalogs = TenantCatalogs(store: catalogStore, database: database)
    return RouterApp.routingListeners(bus: bus, catalogs: catalogs, logger: TestEnvironment.logger)
        + RouterApp.responders(
            bus: bus, catalogs: catalogs, httpClient: .shared, environment: environment, instance: "router-test", logger: TestEnvironment.logger)
}

/// A bus on a NATS server of the test's own, with a consumer that collects the
/// `usage.recorded` events of `tenant`.
func withPrivateBus(tenant: UUID, _ body: (Bus, DeliveryLog) async throws -> Void) async throws {
    let (server, process) = try await PrivateNATSServer.started()
    defer {
        process.kill()
        try? FileManager.default.removeItem(at: server.directory)
    }
    try await withBus(url: server.url) { bus in
        let usage = DeliveryLog()
        let consumer = DurableConsumer(
            bus: bus, spec: ConsumerSpec(name: uniqueName("usage"), filterSubject: Subject.event(tenant: tenant, type: UsageRecorded.eventType)),
            logger: TestEnvironment.logger
        ) { delivery in
            usage.record(delivery)
            return .done
        }
        try await withRunning([consumer]) { try await body(bus, usage) }
    }
}

func routerCall(_ tenant: UUID, model: String, maxTokens: Int? = nil, includeUsage: Bool = false) -> RouterChatCall {
    var completion = ChatCompletionRequest(model: model, messages: [.system("Be brief."), .user("What does the router do?")], maxTokens: maxTokens)
    if includeUsage { completion.streamOptions = StreamOptions(includeUsage: true) }
    return RouterChatCall(requestID: "req_\(UUID().uuidString.lowercased())", tenantID: tenant, apiKeyID: UUID(), completion: completion)
}

/// A catalog file of local chat models by these names, for tests that reload it.
func writeLocalCatalog(_ models: [String], to file: URL) throws {
    let entries = models.map { model in
        """
          \(model):
            deployments:
              - name: local/\(model)
                provider: local
                upstream_model: local-chat
                price: {input_micros_per_million: 1000000, output_micros_per_million: 2000000}
                context_window: 4096
                capabilities: [chat, streaming]

        """
    }
    try ("models:\n" + entries.joined()).write(to: file, atomically: true, encoding: .utf8)
}
