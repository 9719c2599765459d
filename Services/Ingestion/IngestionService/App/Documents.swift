import Contracts
import Foundation
import Logging
import SwitchyardBus
import SwitchyardDatabase

/// A tenant's documents: stored, listed, shown and deleted. A stored document is announced by
/// `document.uploaded`, which `DocumentIndexing` handles.
struct Documents: Sendable {
    let database: Database
    let bus: Bus
    let logger: Logger

    /// Stores the document and announces it within one transaction, which commits only once
    /// the announcement is published: a document is never stored without the event that gets it
    /// indexed. The event may arrive before the commit, or for a transaction that then failed:
    /// `DocumentIndexing` waits a minute for such a document, then drops the event.
    /// A call naming the id of a document stored before answers that document, announcing
    /// nothing: a caller that asks again (not knowing whether it was stored) stores it once.
    func create(_ call: DocumentCreateCall) async throws -> Document {
        try Self.check(call.upload)
        guard !call.embeddingModel.isEmpty else {
            throw ServiceFault(code: "invalid_value", message: "embedding_model must name a model.", param: "embedding_model")
        }
        let id = call.documentID ?? UUID.timeOrdered()
        let event = Envelope(tenantID: call.tenantID, payload: DocumentUploaded(documentID: id, name: call.upload.name, bytes: call.upload.text.utf8.count))
        return try await database.withTenant(call.tenantID) { tx in
            // Stored well within the minute its announcement waits, or not at all.
            try await tx.execute("SET LOCAL statement_timeout = '20s'")
            guard let document = try await DocumentRepository.insert(id: id, call: call, mediaType: call.upload.mediaType ?? .plain, in: tx) else {
                guard let stored = try await DocumentRepository.find(id, in: tx) else { throw Self.notFound }
                return stored
            }
            do {
                _ = try await bus.publish(event)
            } catch {
                logger.error("document.uploaded not published; the document is not stored", metadata: ["error": "\(error)"])
                throw ServiceFault(code: "unavailable", message: "The document could not be queued for indexing; please retry.")
            }
            return document
        }
    }

    /// What the gateway checks too, checked again here: the service does not trust its callers
    /// to have done it.
    static func check(_ upload: DocumentUpload) throws(ServiceFault) {
        // Counted in code points, as the API's schema and PostgreSQL count them.
        guard !upload.name.trimmingWhitespace().isEmpty, upload.name.unicodeScalars.count <= DocumentLimits.maxNameLength else {
            throw ServiceFault(code: "invalid_value", message: "name must be 1 to \(DocumentLimits.maxNameLength) characters, not only spaces.", param: "name")
        }
        guard !upload.text.trimmingWhitespace().isEmpty else {
            throw ServiceFault(code: "invalid_value", message: "text must not be empty.", param: "text")
        }
        guard upload.text.utf8.count <= DocumentLimits.maxTextBytes else {
            throw ServiceFault(code: "too_large", message: "text may be at most \(DocumentLimits.maxTextBytes) bytes of UTF-8.", param: "text")
        }
        try rejectNUL(upload.name, param: "name")
        try rejectNUL(upload.text, param: "text")
    }

    /// PostgreSQL's text cannot hold U+0000.
    static func rejectNUL(_ text: String, param: String) throws(ServiceFault) {
        guard !text.utf8.contains(0) else {
            throw ServiceFault(code: "invalid_value", message: "\(param) must not contain the character U+0000.", param: param)
        }
    }

    func list(_ call: DocumentListCall) async throws -> DocumentList {
        let page = try await database.withTenant(call.tenantID) { tx in
            try await DocumentRepository.list(limit: min(max(call.limit, 1), 100), after: call.after, in: tx)
        }
        return DocumentList(data: page.documents, hasMore: page.hasMore)
    }

    func show(_ call: DocumentCall) async throws -> Document {
        let document = try await database.withTenant(call.tenantID) { try await DocumentRepository.find(call.documentID, in: $0) }
        guard let document else { throw Self.notFound }
        return document
    }

    func delete(_ call: DocumentCall) async throws -> DocumentDeleted {
        let deleted = try await database.withTenant(call.tenantID) { try await DocumentRepository.delete(call.documentID, in: $0) }
        guard deleted else { throw Self.notFound }
        return DocumentDeleted(id: call.documentID)
    }

    static let notFound = ServiceFault(code: "not_found", message: "No such document.")
}
