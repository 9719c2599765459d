import Contracts
import Logging
import ServiceLifecycle
import SwitchyardBus
import SwitchyardDatabase
import SwitchyardRuntime

/// The ingestion service: a tenant's documents, stored on `svc.ingestion.create`, indexed from
/// `document.uploaded` (their text cut into chunks, each embedded through the router) and
/// searched on `svc.ingestion.search` by meaning and by words together. The gateway names the
/// embedding model in each call (`SWITCHYARD_DOCUMENTS_EMBEDDING_MODEL`).
public enum IngestionApp {
    public static let definition = ServiceDefinition(name: .ingestion, dependencies: [.postgresql, .nats]) { context in
        let config = try IngestionConfig(settings: context.settings)
        let ports = ports(config: config, bus: context.bus!, database: context.database!, consumerName: "ingestion-documents", logger: context.logger)
        return [ports.uploadConsumer()] + ports.responders()
    }

    static func ports(config: IngestionConfig, bus: Bus, database: Database, consumerName: String, logger: Logger) -> IngestionPorts {
        let embedder = RouterEmbedder(bus: bus)
        return IngestionPorts(
            bus: bus,
            documents: Documents(database: database, bus: bus, pdfReader: .installed(timeout: config.pdfTimeout), logger: logger),
            indexing: DocumentIndexing(database: database, bus: bus, embedder: embedder),
            search: DocumentSearch(database: database, embedder: embedder),
            config: config, consumerName: consumerName, logger: logger)
    }

    /// The consumer under another durable name and filter, and the responders: for tests that
    /// run ingestion beside their own events.
    public static func services(
        config: IngestionConfig = IngestionConfig(), bus: Bus, database: Database, consumerName: String, filterSubject: String, logger: Logger
    ) -> [any Service] {
        let ports = ports(config: config, bus: bus, database: database, consumerName: consumerName, logger: logger)
        return [ports.uploadConsumer(filterSubject: filterSubject)] + ports.responders()
    }
}

public struct IngestionConfig: Sendable {
    /// `SWITCHYARD_INGESTION_ACK_WAIT`: how soon a document whose indexing replica died is
    /// indexed by another. A replica at work tells NATS so every third of this, however long
    /// its embedding calls take.
    public var ackWait: Duration
    /// `SWITCHYARD_INGESTION_PDF_TIMEOUT`: how long reading one PDF's text may take (its CPU
    /// time as well) before the upload is refused.
    public var pdfTimeout: Duration

    public init(ackWait: Duration = .seconds(60), pdfTimeout: Duration = .seconds(20)) {
        self.ackWait = ackWait
        self.pdfTimeout = pdfTimeout
    }

    public init(settings: Settings) throws(ConfigError) {
        self.init()
        ackWait = try settings.duration("SWITCHYARD_INGESTION_ACK_WAIT", default: ackWait)
        guard ackWait >= .seconds(3) else { throw ConfigError(variable: "SWITCHYARD_INGESTION_ACK_WAIT", reason: "must be at least 3s") }
        pdfTimeout = try settings.duration("SWITCHYARD_INGESTION_PDF_TIMEOUT", default: pdfTimeout)
        // A request to store a document waits for its reading and then its storing, within the
        // 30 s the gateway gives it (`IngestionClient`): past that the call is cancelled, and the
        // uploader told 503 rather than why.
        guard (.seconds(1)...Duration.seconds(20)).contains(pdfTimeout) else {
            throw ConfigError(variable: "SWITCHYARD_INGESTION_PDF_TIMEOUT", reason: "must be from 1s to 20s")
        }
    }
}
