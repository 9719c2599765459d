import AsyncHTTPClient
import Contracts
import Foundation
import Logging
import ServiceLifecycle
import SwitchyardBus
import SwitchyardRuntime

/// The router: the model catalog, the built-in `local` model, and `svc.router.chat`,
/// `svc.router.chat_stream` and `svc.router.embeddings` over NATS; every call publishes one
/// `usage.recorded`.
public enum RouterApp {
    public static let definition = ServiceDefinition(name: .router, dependencies: [.postgresql, .nats]) { context in
        let config = try RouterConfig(settings: context.settings)
        let catalog = try CatalogStore(path: config.catalogPath)
        context.logger.info("catalog loaded", metadata: ["path": "\(config.catalogPath)", "models": "\(catalog.catalog.models.keys.sorted())"])
        // Pooled connections to providers; closed after the responders have drained.
        var httpConfiguration = HTTPClient.Configuration(timeout: .init(connect: .seconds(2)))
        // The pool's default, 8 connections per host, would queue the ninth concurrent call to
        // a provider behind the first eight, streams above all.
        httpConfiguration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: config.connectionsPerProvider)
        // No tracer is bootstrapped; the no-op one would still open a span and set its
        // attributes on every call (2.5 % of the router under load).
        httpConfiguration.tracing.tracer = nil
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: httpConfiguration)
        let catalogs = TenantCatalogs(store: catalog, database: context.database!)
        let usage = UsagePublisher(bus: context.bus!, logger: context.logger)
        return [
            HTTPClientLifecycle(client: httpClient), usage,
            CatalogReloadOnHangup(reloading: CatalogReloading(store: catalog, bus: context.bus!, instance: context.service.instance, logger: context.logger)),
        ] + routingListeners(bus: context.bus!, catalogs: catalogs, logger: context.logger)
            + responders(bus: context.bus!, catalogs: catalogs, httpClient: httpClient, usage: usage, instance: context.service.instance, logger: context.logger)
    }

    /// Drops a tenant's routing overrides and prices when they change (every tenant's when the
    /// price book does), so the next calls read them again.
    public static func routingListeners(bus: Bus, catalogs: TenantCatalogs, logger: Logger) -> [EventListener] {
        [
            EventListener(bus: bus, events: RoutingChanged.self, logger: logger) { catalogs.forget($0.tenantID) },
            EventListener(bus: bus, events: PricesChanged.self, logger: logger) { event in
                event.tenantID == .everyTenant ? catalogs.forgetAll() : catalogs.forget(event.tenantID)
            },
        ]
    }

    /// The bus endpoints serving `catalogs`: the catalog file its store reads (which a reload
    /// reads again) with each tenant's routing overrides. Provider keys are read from
    /// `environment` by the variable each deployment names.
    public static func responders(
        bus: Bus, catalogs: TenantCatalogs, httpClient: HTTPClient,
        environment: [String: String] = ProcessInfo.processInfo.environment, usage: UsagePublisher? = nil,
        instance: String = "router-\(ProcessInfo.processInfo.processIdentifier)", logger: Logger
    ) -> [Responder] {
        let usage = usage ?? UsagePublisher(bus: bus, logger: logger)
        let providers = Providers(
            local: LocalProvider(),
            openAICompatible: OpenAICompatibleProvider(client: httpClient, environment: environment),
            anthropic: AnthropicProvider(client: httpClient, environment: environment))
        // One breaker and one set of metrics per deployment, whatever the call.
        let health = DeploymentHealth()
        return RouterResponders(
            bus: bus, chat: ChatCalls(catalogs: catalogs, providers: providers, usage: usage, health: health),
            embeddings: EmbeddingCalls(catalogs: catalogs, providers: providers, usage: usage, health: health), catalogs: catalogs,
            reloading: CatalogReloading(store: catalogs.store, bus: bus, instance: instance, logger: logger), logger: logger
        ).responders()
    }
}

/// Shuts the HTTP client down when the service stops; listed first, so it stops last.
struct HTTPClientLifecycle: Service {
    let client: HTTPClient

    func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}

public struct RouterConfig: Sendable {
    /// `SWITCHYARD_CATALOG`: the YAML catalog (see `catalog.example.yaml`).
    public var catalogPath: String
    /// `SWITCHYARD_ROUTER_CONNECTIONS_PER_PROVIDER` (default 2048): HTTP/1.1 connections the
    /// router opens to one provider host at most, which is also how many calls it has in flight
    /// there at once; more wait for a free connection.
    public var connectionsPerProvider: Int

    public init(settings: Settings) throws(ConfigError) {
        catalogPath = try settings.required("SWITCHYARD_CATALOG")
        connectionsPerProvider = try settings.integer("SWITCHYARD_ROUTER_CONNECTIONS_PER_PROVIDER", default: 2048, in: 1...100_000)
    }
}
