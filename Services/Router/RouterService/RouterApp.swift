import Contracts
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
        let catalog = try CatalogFile.load(path: config.catalogPath)
        context.logger.info("catalog loaded", metadata: ["path": "\(config.catalogPath)", "models": "\(catalog.models.keys.sorted())"])
        return responders(bus: context.bus!, catalog: catalog, logger: context.logger)
    }

    /// The bus endpoints serving `catalog`.
    public static func responders(bus: Bus, catalog: Catalog, logger: Logger) -> [Responder] {
        let usage = UsagePublisher(bus: bus, logger: logger)
        return RouterResponders(
            bus: bus, chat: ChatCalls(catalog: catalog, usage: usage), embeddings: EmbeddingCalls(catalog: catalog, usage: usage),
            logger: logger
        ).responders()
    }
}

public struct RouterConfig: Sendable {
    /// `SWITCHYARD_CATALOG`: the YAML catalog (see `catalog.example.yaml`).
    public var catalogPath: String

    public init(settings: Settings) throws(ConfigError) {
        catalogPath = try settings.required("SWITCHYARD_CATALOG")
    }
}
