import Contracts
import Foundation
import Logging
import Metrics
import SwitchyardBus
import SwitchyardDatabase

/// A tenant's documents: stored, listed, shown and deleted. A stored document is announced by
/// `document.uploaded`, which `DocumentIndexing` handles.
struct Documents: Sendable {
    let database: Database
    let bus: Bus
    let pdfReader: PDFReader
    let logger: Logger

    /// Stores the document and announces it within one transaction, which commits only once
    /// the announcement is published: a document is never stored without the event that gets it
    /// indexed. The event may arrive before the commit, or for a transaction that then failed:
    /// `DocumentIndexing` waits a minute for such a document, then drops the event.
    /// A call naming the id of a document stored before answers that document, announcing
    /// nothing: a caller that asks again (not knowing whether it was stored) stores it once.
    ///
    /// A PDF's text is read here, before it is stored: a file that cannot be read is refused to
    /// the uploader, naming `data`, rather than failing later.
    func create(_ call: DocumentCreateCall) async throws -> Document {
        try Self.check(name: call.upload.name)
        try Self.check(metadata: call.upload.metadata)
        let (text, bytes) = try await text(of: call.upload)
        try Self.check(text: text)
        guard !call.embeddingModel.isEmpty else {
            throw ServiceFault(code: "invalid_value", message: "embedding_model must name a model.", param: "embedding_model")
        }
        let id = call.documentID ?? UUID.timeOrdered()
        let event = Envelope(tenantID: call.tenantID, payload: DocumentUploaded(documentID: id, name: call.upload.name, bytes: bytes))
        return try await database.withTenant(call.tenantID) { tx in
            // Stored well within the minute its announcement waits, or not at all.
            try await tx.execute("SET LOCAL statement_timeout = '20s'")
            let stored = try await DocumentRepository.insert(id: id, call: call, text: text, bytes: bytes, in: tx)
            guard let document = stored else {
                guard let earlier = try await DocumentRepository.find(id, in: tx) else { throw Self.notFound }
                return earlier
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

    /// The upload's text, as given or read out of its file, and the bytes uploaded.
    func text(of upload: DocumentUpload) async throws(ServiceFault) -> (text: String, bytes: Int) {
        func invalid(_ param: String, _ message: String) -> ServiceFault { ServiceFault(code: "invalid_value", message: message, param: param) }
        let type = upload.type
        guard type.isFile else {
            guard upload.data == nil else { throw invalid("data", "data is for files (application/pdf); a \(type.rawValue) document is sent as text.") }
            guard let text = upload.text else { throw invalid("text", "text is required for a \(type.rawValue) document.") }
            return (text, text.utf8.count)
        }
        guard upload.text == nil else { throw invalid("text", "A \(type.rawValue) document is sent as data (the file in base64), not text.") }
        guard let data = upload.data else { throw invalid("data", "data is required for a \(type.rawValue) document: the file in base64.") }
        guard let file = Data(base64Encoded: data) else { throw invalid("data", "data must be the file in base64 (RFC 4648, no line breaks).") }
        guard file.count <= DocumentLimits.maxFileBytes else {
            throw ServiceFault(code: "too_large", message: "The file may be at most \(DocumentLimits.maxFileBytes) bytes.", param: "data")
        }
        guard file.starts(with: Data("%PDF-".utf8)) else { throw invalid("data", "data is not a PDF: it does not start with %PDF-.") }
        let text: String
        let started = ContinuousClock.now
        do {
            text = try await pdfReader.text(of: file)
            Self.countRead("read", since: started)
        } catch {
            Self.countRead(error.outcome, since: started)
            switch error {
            case .unreadable(let why): throw invalid("data", "The PDF could not be read: \(why).")
            case .tooLong: throw ServiceFault(code: "too_large", message: "The PDF's text is longer than \(DocumentLimits.maxTextBytes) bytes.", param: "data")
            case .pastLimits: throw invalid("data", "The PDF could not be read within the time and memory a document may take.")
            case .unavailable(let why):
                logger.error("a PDF could not be read", metadata: ["error": "\(why)"])
                throw ServiceFault(code: "pdf_reader_unavailable", message: "PDFs cannot be read now; please retry later.")
            }
        }
        // PostgreSQL's text cannot hold U+0000, which a PDF's text may.
        let readable = text.replacingOccurrences(of: "\u{0}", with: "")
        guard !readable.trimmingWhitespace().isEmpty else {
            throw invalid("data", "The PDF holds no text to index (a scanned PDF holds only images of it).")
        }
        return (readable, file.count)
    }

    /// `switchyard_ingestion_pdf_reads_total{outcome}` and how long reading took.
    private static func countRead(_ outcome: String, since started: ContinuousClock.Instant) {
        Counter(label: "switchyard_ingestion_pdf_reads_total", dimensions: [("outcome", outcome)]).increment()
        Timer(label: "switchyard_ingestion_pdf_read_seconds").record(duration: started.duration(to: .now))
    }

    /// What the gateway checks too, checked again here: the service does not trust its callers
    /// to have done it.
    static func check(name: String) throws(ServiceFault) {
        // Counted in code points, as the API's schema and PostgreSQL count them.
        guard !name.trimmingWhitespace().isEmpty, name.unicodeScalars.count <= DocumentLimits.maxNameLength else {
            throw ServiceFault(code: "invalid_value", message: "name must be 1 to \(DocumentLimits.maxNameLength) characters, not only spaces.", param: "name")
        }
        try rejectNUL(name, param: "name")
    }

    /// A document's metadata, or a list's filter by it.
    static func check(metadata: [String: String]?) throws(ServiceFault) {
        if let metadata, let problem = DocumentMetadata.problem(in: metadata, param: "metadata") {
            throw ServiceFault(code: "invalid_value", message: problem.message, param: problem.param)
        }
    }

    static func check(text: String) throws(ServiceFault) {
        guard !text.trimmingWhitespace().isEmpty else {
            throw ServiceFault(code: "invalid_value", message: "text must not be empty.", param: "text")
        }
        guard text.utf8.count <= DocumentLimits.maxTextBytes else {
            throw ServiceFault(code: "too_large", message: "text may be at most \(DocumentLimits.maxTextBytes) bytes of UTF-8.", param: "text")
        }
        try rejectNUL(text, param: "text")
    }

    /// PostgreSQL's text cannot hold U+0000.
    static func rejectNUL(_ text: String, param: String) throws(ServiceFault) {
        guard !text.utf8.contains(0) else {
            throw ServiceFault(code: "invalid_value", message: "\(param) must not contain the character U+0000.", param: param)
        }
    }

    func list(_ call: DocumentListCall) async throws -> DocumentList {
        try Self.check(metadata: call.metadata)
        let page = try await database.withTenant(call.tenantID) { tx in
            try await DocumentRepository.list(limit: min(max(call.limit, 1), 100), after: call.after, metadata: call.metadata, in: tx)
        }
        return DocumentList(data: page.documents, hasMore: page.hasMore)
    }

    func show(_ call: DocumentCall) async throws -> Document {
        let document = try await database.withTenant(call.tenantID) { try await DocumentRepository.find(call.documentID, in: $0) }
        guard let document else { throw Self.notFound }
        return document
    }

    /// Replaces the document's metadata; its chunks, which do not hold it, stay as they are.
    func update(_ call: DocumentUpdateCall) async throws -> Document {
        try Self.check(metadata: call.update.metadata)
        let document = try await database.withTenant(call.tenantID) { tx in
            try await DocumentRepository.setMetadata(call.update.metadata, of: call.documentID, in: tx)
        }
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
