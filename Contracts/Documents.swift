import Foundation

// `/v1/documents` and `/v1/search`, answered by the ingestion service: a tenant's documents,
// split into chunks, embedded and indexed, and searched by meaning and by words at once.

public enum IngestionVerb {
    /// A `DocumentCreateCall`, answered with the stored `Document` (status `processing`).
    public static let create = "create"
    /// A `DocumentListCall`, answered with a `DocumentList`.
    public static let list = "list"
    /// A `DocumentCall`, answered with the `Document`.
    public static let show = "show"
    /// A `DocumentUpdateCall`, answered with the `Document`.
    public static let update = "update"
    /// A `DocumentCall`, answered with a `DocumentDeleted`.
    public static let delete = "delete"
    /// A `SearchCall`, answered with `SearchResults`.
    public static let search = "search"
}

/// What a document is written in; the ingestion service reads its words out of it.
public enum DocumentMediaType: String, Codable, Sendable, CaseIterable {
    case plain = "text/plain"
    case markdown = "text/markdown"
    case html = "text/html"
    /// Uploaded as `data`; its text is read when it is stored (a scanned PDF, which holds only
    /// images, has none).
    case pdf = "application/pdf"

    /// Whether it is uploaded as a file's bytes (`data`) rather than as `text`.
    public var isFile: Bool { self == .pdf }
}

public enum DocumentStatus: String, Codable, Sendable, CaseIterable {
    /// Stored; its chunks are being made and embedded.
    case processing
    /// Searchable.
    case indexed
    /// It could not be indexed; `failure` says why.
    case failed
}

/// Bounds a document is held to, checked by the gateway (naming the field) and again by the
/// ingestion service.
public enum DocumentLimits {
    /// A document's text, in UTF-8 bytes. A call carries it whole over NATS, whose messages are
    /// 1 MB at most by default.
    public static let maxTextBytes = 512 * 1024
    /// A file's bytes (a PDF), carried in base64 in one call as well. The text read out of it is
    /// held to `maxTextBytes`.
    public static let maxFileBytes = 512 * 1024
    public static let maxNameLength = 255
    /// Characters of a chunk at most.
    public static let maxChunkCharacters = 1200
    /// Results one search answers at most.
    public static let maxSearchResults = 50
    public static let maxQueryBytes = 4096
}

/// A document's metadata: labels of its own (a source, a project, a language) that a search can
/// be narrowed to, and that search results carry.
public enum DocumentMetadata {
    public static let maxPairs = 16
    /// Letters, digits, `_`, `-` and `.`.
    public static let maxKeyLength = 64
    public static let maxValueBytes = 512

    /// What is wrong with `metadata` (a document's, or a search's filter), naming the field
    /// under `param`; nil when nothing is. Values are checked unless they are templates still to
    /// be filled in (a workflow's).
    public static func problem(in metadata: [String: String], param: String, checkingValues: Bool = true) -> (param: String, message: String)? {
        guard metadata.count <= maxPairs else { return (param, "\(param) may hold at most \(maxPairs) keys.") }
        for key in metadata.keys.sorted() {
            let valid = (1...maxKeyLength).contains(key.utf8.count)
                && key.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "_-.".unicodeScalars.contains($0)) }
            guard valid else { return (param, "A key of \(param) must be 1 to \(maxKeyLength) letters, digits, _, - or .: \(key.prefix(80)) is not.") }
            guard checkingValues else { continue }
            let value = metadata[key]!
            guard value.utf8.count <= maxValueBytes, !value.utf8.contains(0) else {
                return ("\(param).\(key)", "\(param).\(key) must be at most \(maxValueBytes) bytes, without the character U+0000.")
            }
        }
        return nil
    }
}

/// `POST /v1/documents`: `text`, or for a file type (`application/pdf`) the file as `data`.
public struct DocumentUpload: Codable, Sendable, Equatable {
    public var name: String
    public var text: String?
    /// The file's bytes in base64.
    public var data: String?
    /// `text/plain` when not given.
    public var mediaType: DocumentMediaType?
    /// Labels a search can be narrowed to (`DocumentMetadata`).
    public var metadata: [String: String]?

    public init(name: String, text: String? = nil, data: String? = nil, mediaType: DocumentMediaType? = nil, metadata: [String: String]? = nil) {
        self.name = name
        self.text = text
        self.data = data
        self.mediaType = mediaType
        self.metadata = metadata
    }

    /// What it is written in.
    public var type: DocumentMediaType { mediaType ?? .plain }

    /// The bytes uploaded: the text's UTF-8, or the file's (as its base64 says, before it is
    /// decoded).
    public var bytes: Int {
        if let data { data.utf8.count / 4 * 3 } else { text?.utf8.count ?? 0 }
    }

    enum CodingKeys: String, CodingKey {
        case name, text, data
        case mediaType = "media_type"
        case metadata
    }
}

/// A document as the API shows it: never its text, which its chunks carry into search results.
public struct Document: Codable, Sendable, Equatable {
    public var object = "document"
    public var id: UUID
    public var name: String
    public var mediaType: DocumentMediaType
    /// The bytes uploaded: its text's UTF-8, or the file's.
    public var bytes: Int
    public var status: DocumentStatus
    /// Set once indexed.
    public var chunkCount: Int?
    /// The model its chunks were embedded with.
    public var embeddingModel: String
    /// Why it could not be indexed, when it failed.
    public var failure: String?
    public var metadata: [String: String]
    public var createdAt: Date
    public var indexedAt: Date?

    public init(
        id: UUID, name: String, mediaType: DocumentMediaType, bytes: Int, status: DocumentStatus, chunkCount: Int?,
        embeddingModel: String, failure: String?, metadata: [String: String] = [:], createdAt: Date, indexedAt: Date?
    ) {
        self.id = id
        self.name = name
        self.mediaType = mediaType
        self.bytes = bytes
        self.status = status
        self.chunkCount = chunkCount
        self.embeddingModel = embeddingModel
        self.failure = failure
        self.metadata = metadata
        self.createdAt = createdAt
        self.indexedAt = indexedAt
    }

    enum CodingKeys: String, CodingKey {
        case object, id, name
        case mediaType = "media_type"
        case bytes, status
        case chunkCount = "chunk_count"
        case embeddingModel = "embedding_model"
        case failure, metadata
        case createdAt = "created_at"
        case indexedAt = "indexed_at"
    }
}

/// A page of a tenant's documents, newest first, as OpenAI pages its lists.
public struct DocumentList: Codable, Sendable, Equatable {
    public var object = "list"
    public var data: [Document]
    public var hasMore: Bool

    public init(data: [Document], hasMore: Bool) {
        self.data = data
        self.hasMore = hasMore
    }

    enum CodingKeys: String, CodingKey {
        case object, data
        case hasMore = "has_more"
    }
}

public struct DocumentDeleted: Codable, Sendable, Equatable {
    public var object = "document.deleted"
    public var id: UUID
    public var deleted = true

    public init(id: UUID) { self.id = id }
}

/// A document to store, on `svc.ingestion.create`, for the caller named by its key.
public struct DocumentCreateCall: Codable, Sendable, Equatable {
    public var tenantID: UUID
    /// The key that uploaded it: its indexing's embedding calls are charged to it.
    public var apiKeyID: UUID?
    /// The upload's request id, which its embedding calls are recorded under.
    public var requestID: String
    /// The catalog model its chunks are embedded with (the gateway's setting).
    public var embeddingModel: String
    public var upload: DocumentUpload
    /// The id to store it under, chosen by a caller that may ask again (a workflow's step): a
    /// second call with it answers the document stored by the first. A new id when not given.
    public var documentID: UUID?

    public init(tenantID: UUID, apiKeyID: UUID?, requestID: String, embeddingModel: String, upload: DocumentUpload, documentID: UUID? = nil) {
        self.tenantID = tenantID
        self.apiKeyID = apiKeyID
        self.requestID = requestID
        self.embeddingModel = embeddingModel
        self.upload = upload
        self.documentID = documentID
    }

    enum CodingKeys: String, CodingKey {
        case tenantID = "tenant_id"
        case apiKeyID = "api_key_id"
        case requestID = "request_id"
        case embeddingModel = "embedding_model"
        case upload
        case documentID = "document_id"
    }
}

/// A page of documents, newest first, on `svc.ingestion.list`.
public struct DocumentListCall: Codable, Sendable, Equatable {
    public var tenantID: UUID
    public var limit: Int
    /// A document id: the page starts after it.
    public var after: UUID?
    /// Only documents whose metadata holds every one of these keys with its value.
    public var metadata: [String: String]?

    public init(tenantID: UUID, limit: Int, after: UUID?, metadata: [String: String]? = nil) {
        self.tenantID = tenantID
        self.limit = limit
        self.after = after
        self.metadata = metadata
    }

    enum CodingKeys: String, CodingKey {
        case tenantID = "tenant_id"
        case limit, after, metadata
    }
}

/// `POST /v1/documents/{id}`: what to change of a document (its text cannot change: upload
/// another).
public struct DocumentUpdate: Codable, Sendable, Equatable {
    /// Replaces its metadata whole.
    public var metadata: [String: String]

    public init(metadata: [String: String]) { self.metadata = metadata }
}

/// A document's change, on `svc.ingestion.update`.
public struct DocumentUpdateCall: Codable, Sendable, Equatable {
    public var tenantID: UUID
    public var documentID: UUID
    public var update: DocumentUpdate

    public init(tenantID: UUID, documentID: UUID, update: DocumentUpdate) {
        self.tenantID = tenantID
        self.documentID = documentID
        self.update = update
    }

    enum CodingKeys: String, CodingKey {
        case tenantID = "tenant_id"
        case documentID = "document_id"
        case update
    }
}

/// One document, on `svc.ingestion.show` and `svc.ingestion.delete`.
public struct DocumentCall: Codable, Sendable, Equatable {
    public var tenantID: UUID
    public var documentID: UUID

    public init(tenantID: UUID, documentID: UUID) {
        self.tenantID = tenantID
        self.documentID = documentID
    }

    enum CodingKeys: String, CodingKey {
        case tenantID = "tenant_id"
        case documentID = "document_id"
    }
}

/// `POST /v1/search`.
public struct SearchRequest: Codable, Sendable, Equatable {
    public var query: String
    /// 10 when not given; at most `DocumentLimits.maxSearchResults`.
    public var limit: Int?
    /// Only these documents' chunks; every indexed document of the tenant when not given.
    public var documentIDs: [UUID]?
    /// Only documents whose metadata holds every one of these keys with its value.
    public var filter: [String: String]?

    public init(query: String, limit: Int? = nil, documentIDs: [UUID]? = nil, filter: [String: String]? = nil) {
        self.query = query
        self.limit = limit
        self.documentIDs = documentIDs
        self.filter = filter
    }

    enum CodingKeys: String, CodingKey {
        case query, limit
        case documentIDs = "document_ids"
        case filter
    }
}

/// A search of a tenant's documents, on `svc.ingestion.search`. The answer's
/// `Switchyard-Cost-Micros` and `Switchyard-Total-Tokens` headers are the query's embedding's.
public struct SearchCall: Codable, Sendable, Equatable {
    public var tenantID: UUID
    /// The key searching: the query's embedding is charged to it.
    public var apiKeyID: UUID?
    public var requestID: String
    /// The catalog model the query is embedded with; only documents indexed with it are searched.
    public var embeddingModel: String
    public var search: SearchRequest

    public init(tenantID: UUID, apiKeyID: UUID?, requestID: String, embeddingModel: String, search: SearchRequest) {
        self.tenantID = tenantID
        self.apiKeyID = apiKeyID
        self.requestID = requestID
        self.embeddingModel = embeddingModel
        self.search = search
    }

    enum CodingKeys: String, CodingKey {
        case tenantID = "tenant_id"
        case apiKeyID = "api_key_id"
        case requestID = "request_id"
        case embeddingModel = "embedding_model"
        case search
    }
}

/// The chunks that answer a search best, best first.
public struct SearchResults: Codable, Sendable, Equatable {
    public var object = "list"
    public var data: [Hit]
    /// The model the query was embedded with.
    public var model: String
    /// The query's embedding.
    public var usage: EmbeddingsResponse.Usage

    public init(data: [Hit], model: String, usage: EmbeddingsResponse.Usage) {
        self.data = data
        self.model = model
        self.usage = usage
    }

    public struct Hit: Codable, Sendable, Equatable {
        public var object = "search.result"
        public var documentID: UUID
        public var documentName: String
        public var documentMetadata: [String: String]
        /// The chunk's place in its document, from 0.
        public var chunkIndex: Int
        /// The chunk's text, as read out of the document.
        public var text: String
        /// Reciprocal rank fusion of the two rankings below: higher is better; comparable
        /// between the results of one search only.
        public var score: Double
        /// Cosine similarity of the chunk's embedding and the query's.
        public var similarity: Double
        /// The chunk's place among the chunks matching the query's words, from 1; nil when
        /// it holds none of them.
        public var keywordRank: Int?

        public init(
            documentID: UUID, documentName: String, documentMetadata: [String: String] = [:], chunkIndex: Int, text: String, score: Double,
            similarity: Double, keywordRank: Int?
        ) {
            self.documentID = documentID
            self.documentName = documentName
            self.documentMetadata = documentMetadata
            self.chunkIndex = chunkIndex
            self.text = text
            self.score = score
            self.similarity = similarity
            self.keywordRank = keywordRank
        }

        enum CodingKeys: String, CodingKey {
            case object
            case documentID = "document_id"
            case documentName = "document_name"
            case documentMetadata = "document_metadata"
            case chunkIndex = "chunk_index"
            case text, score, similarity
            case keywordRank = "keyword_rank"
        }
    }
}

/// A document was stored: the ingestion service's consumer chunks, embeds and indexes it.
public struct DocumentUploaded: EventPayload {
    public static let eventType = EventType(domain: "document", name: "uploaded")
    public static let version = 1
    public var documentID: UUID
    public var name: String
    public var bytes: Int

    public init(documentID: UUID, name: String, bytes: Int) {
        self.documentID = documentID
        self.name = name
        self.bytes = bytes
    }

    enum CodingKeys: String, CodingKey {
        case documentID = "document_id"
        case name, bytes
    }
}

/// A document became searchable.
public struct DocumentIndexed: EventPayload {
    public static let eventType = EventType(domain: "document", name: "indexed")
    public static let version = 1
    public var documentID: UUID
    public var chunkCount: Int
    public var embeddingModel: String

    public init(documentID: UUID, chunkCount: Int, embeddingModel: String) {
        self.documentID = documentID
        self.chunkCount = chunkCount
        self.embeddingModel = embeddingModel
    }

    enum CodingKeys: String, CodingKey {
        case documentID = "document_id"
        case chunkCount = "chunk_count"
        case embeddingModel = "embedding_model"
    }
}

/// A document could not be indexed and will not be tried again.
public struct DocumentFailed: EventPayload {
    public static let eventType = EventType(domain: "document", name: "failed")
    public static let version = 1
    public var documentID: UUID
    public var reason: String

    public init(documentID: UUID, reason: String) {
        self.documentID = documentID
        self.reason = reason
    }

    enum CodingKeys: String, CodingKey {
        case documentID = "document_id"
        case reason
    }
}
