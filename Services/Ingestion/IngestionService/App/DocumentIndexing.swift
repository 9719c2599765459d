import Contracts
import Foundation
import Logging
import SwitchyardBus
import SwitchyardDatabase

/// Indexes an uploaded document: reads its words, cuts them into chunks, embeds each chunk and
/// stores them, then announces `document.indexed`; or marks it failed (`document.failed`) when
/// it can never be indexed.
struct DocumentIndexing: Sendable {
    let database: Database
    let bus: Bus
    let embedder: RouterEmbedder
    var chunker = TextChunker()

    enum Outcome: Equatable {
        case indexed(chunks: Int)
        case failed(String)
        /// Indexed or failed already (by another delivery of its event).
        case nothingToDo
        /// No such document: deleted, not stored yet (its announcement comes first), or never
        /// stored.
        case notStored
    }

    /// Throws `EmbeddingFailure.unavailable` (or a database error) when trying again later may
    /// work; the document stays `processing` meanwhile.
    func index(_ event: Envelope<DocumentUploaded>) async throws -> Outcome {
        let tenant = event.tenantID
        let id = event.payload.documentID
        guard let stored = try await database.withTenant(tenant, { try await DocumentRepository.forIndexing(id, in: $0) }) else {
            return .notStored
        }
        guard stored.document.status == .processing else { return .nothingToDo }
        let chunks = chunker.chunks(of: DocumentText.extract(stored.body, as: stored.document.mediaType))
        guard !chunks.isEmpty else { return try await fail(event, reason: "The document holds no text to index.") }
        let vectors: [[Float]]
        do {
            vectors = try await embedder.embed(
                chunks, model: stored.document.embeddingModel, tenant: tenant, apiKey: stored.apiKeyID, requestID: stored.requestID
            ).vectors
        } catch .refused(let fault) {
            return try await fail(event, reason: "Its chunks could not be embedded with `\(stored.document.embeddingModel)`: \(fault.message)")
        }
        let indexed = try await database.withTenant(tenant) { tx in
            try await DocumentRepository.storeIndex(of: id, chunks: zip(chunks, vectors).map { .init(text: $0, embedding: $1) }, in: tx)
        }
        guard indexed else { return .notStored }
        try await announce(event, DocumentIndexed(documentID: id, chunkCount: chunks.count, embeddingModel: stored.document.embeddingModel))
        return .indexed(chunks: chunks.count)
    }

    /// Marks the document failed for good and says why.
    func fail(_ event: Envelope<DocumentUploaded>, reason: String) async throws -> Outcome {
        let id = event.payload.documentID
        try await database.withTenant(event.tenantID) { try await DocumentRepository.markFailed(id, reason: reason, in: $0) }
        try await announce(event, DocumentFailed(documentID: id, reason: reason))
        return .failed(reason)
    }

    /// Published with an id derived from the upload's, so a second delivery's announcement is
    /// stored once.
    private func announce<Payload: EventPayload>(_ cause: Envelope<DocumentUploaded>, _ payload: Payload) async throws {
        let id = UUID.derived(from: "\(Payload.eventType):\(cause.id)")
        _ = try await bus.publish(Envelope(id: id, tenantID: cause.tenantID, causationID: cause.id.uuidString.lowercased(), payload: payload))
    }
}
