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
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(timeout: .init(connect: .seconds(2))))
        return [HTTPClientLifecycle(client: httpClient), CatalogReloader(store: catalog, logger: context.logger)]
            + responders(bus: context.bus!, catalog: catalog, httpClient: httpClient, logger: context.logger)
    }

    /// The bus endpoints serving `catalog`. Provider keys are read from `environment` by the
    /// variable each deployment names.
    public static func responders(
        bus: Bus, catalog: Catalog, httpClient: HTTPClient,
        environment: [String: String] = ProcessInfo.processInfo.environment, logger: Logger
    ) -> [Responder] {
        responders(bus: bus, catalog: CatalogStore(catalog, path: "(given)"), httpClient: httpClient, environment: environment, logger: logger)
    }

    static func responders(
        bus: Bus, catalog: CatalogStore, httpClient: HTTPClient,
        environment: [String: String] = ProcessInfo.processInfo.environment, logger: Logger
    ) -> [Responder] {
        let usage = UsagePublisher(bus: bus, logger: logger)
        let providers = Providers(
            local: LocalProvider(),
            openAICompatible: OpenAICompatibleProvider(client: httpClient, environment: environment),
            anthropic: AnthropicProvider(client: httpClient, environment: environment))
        return RouterResponders(
            bus: bus, chat: ChatCalls(catalogs: catalog, providers: providers, usage: usage, health: DeploymentHealth()),
            embeddings: EmbeddingCalls(catalogs: catalog, usage: usage), catalogs: catalog, logger: logger
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

    public init(settings: Settings) throws(ConfigError) {
        catalogPath = try settings.required("SWITCHYARD_CATALOG")
    }
}
