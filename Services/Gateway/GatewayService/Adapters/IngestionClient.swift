import Contracts
import Foundation
import SwitchyardBus

/// The ingestion service's bus interface as the gateway calls it.
struct IngestionClient: Sendable {
    let client: ServiceClient

    /// A search embeds its query through the router first; a PDF's text is read (up to
    /// `SWITCHYARD_INGESTION_PDF_TIMEOUT`, 20 s at most) before it is stored.
    init(bus: Bus) {
        client = ServiceClient(
            bus: bus, service: .ingestion, timeout: .seconds(30), resource: "document",
            unavailable: APIError(.serviceUnavailable, "Documents cannot be reached right now; please retry.", code: "documents_unavailable",
                                  headers: [.retryAfter: "1"]),
            unavailableWithReason: ["embedding_refused", "pdf_reader_unavailable"])
    }

    func create(_ call: DocumentCreateCall, correlationID: String) async throws(APIError) -> Document {
        try await client.request(IngestionVerb.create, call, correlationID: correlationID)
    }

    func list(_ call: DocumentListCall, correlationID: String) async throws(APIError) -> DocumentList {
        try await client.request(IngestionVerb.list, call, correlationID: correlationID)
    }

    func show(_ call: DocumentCall, correlationID: String) async throws(APIError) -> Document {
        try await client.request(IngestionVerb.show, call, correlationID: correlationID)
    }

    func update(_ call: DocumentUpdateCall, correlationID: String) async throws(APIError) -> Document {
        try await client.request(IngestionVerb.update, call, correlationID: correlationID)
    }

    func delete(_ call: DocumentCall, correlationID: String) async throws(APIError) -> DocumentDeleted {
        try await client.request(IngestionVerb.delete, call, correlationID: correlationID)
    }

    /// The results, and what embedding the query cost when the router said.
    func search(_ call: SearchCall, correlationID: String) async throws(APIError) -> (SearchResults, costMicros: Int64?) {
        let reply = try await client.exchange(IngestionVerb.search, call, correlationID: correlationID)
        return (try client.decode(reply), reply.headers[RouterHeader.costMicros].flatMap(Int64.init))
    }
}
