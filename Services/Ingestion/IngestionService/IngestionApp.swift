import Contracts
import Logging
import ServiceLifecycle
import SwitchyardBus
import SwitchyardDatabase
import SwitchyardRuntime

/// The ingestion service: a tenant's documents, stored on `svc.ingestion.create`, indexed from
/// `document.uploaded` (their text cut into chunks, each embedded through the router) and
/// searched on `svc.ingestion.search` by meaning and by words together. The gateway names the
/// embedding model in each call (`SWITCHYARD_DOCUMENTS_EMBEDDING_MODEL`), so the service has no
/// settings of its own.
public enum IngestionApp {
    public static let definition = ServiceDefinition(name: .ingestion, dependencies: [.postgresql, .nats]) { context in
        let ports = ports(bus: context.bus!, database: context.database!, consumerName: "ingestion-documents", logger: context.logger)
        return [ports.uploadConsumer()] + ports.responders()
    }

    static func ports(bus: Bus, database: Database, consumerName: String, logger: Logger) -> IngestionPorts {
        let embedder = RouterEmbedder(bus: bus)
        return IngestionPorts(
            bus: bus,
            documents: Documents(database: database, bus: bus, logger: logger),
            indexing: DocumentIndexing(database: database, bus: bus, embedder: embedder),
            search: DocumentSearch(database: database, embedder: embedder),
            consumerName: consumerName, logger: logger)
    }

    /// The consumer under another durable name and filter, and the responders: for tests that
    /// run ingestion beside their own events.
    public static func services(bus: Bus, database: Database, consumerName: String, filterSubject: String, logger: Logger) -> [any Service] {
        let ports = ports(bus: bus, database: database, consumerName: consumerName, logger: logger)
        return [ports.uploadConsumer(filterSubject: filterSubject)] + ports.responders()
    }
}
