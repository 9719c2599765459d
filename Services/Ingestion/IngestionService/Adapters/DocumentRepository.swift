import Contracts
import Foundation
import PostgresNIO
import SwitchyardDatabase

/// Documents and their chunks, inside the tenant transaction a use case opened.
enum DocumentRepository {
    /// A document as the consumer indexes it.
    struct Stored {
        var document: Document
        var body: String
        var apiKeyID: UUID?
        /// The upload's request id: its embedding calls are recorded under it.
        var requestID: String
    }

    /// One chunk ready to store: its text and unit embedding.
    struct Chunk {
        var text: String
        var embedding: [Float]
    }

    private static let columns = "id, name, media_type, bytes, status, chunk_count, embedding_model, failure, metadata::text, created_at, indexed_at"

    /// The stored document; nil when one was stored under `id` before.
    /// `text` is what the upload says, or what was read out of its file (`bytes` long).
    static func insert(id: UUID, call: DocumentCreateCall, text: String, bytes: Int, in tx: TenantTransaction) async throws -> Document? {
        let upload = call.upload
        let rows = try await tx.query("""
            INSERT INTO documents (tenant_id, id, name, media_type, body, bytes, api_key_id, request_id, embedding_model, metadata)
            VALUES (\(tx.tenantID), \(id), \(upload.name), \(upload.type.rawValue), \(text), \(Int32(bytes)),
                    \(call.apiKeyID), \(call.requestID), \(call.embeddingModel), \(try json(upload.metadata ?? [:]))::jsonb)
            ON CONFLICT (tenant_id, id) DO NOTHING
            RETURNING \(unescaped: columns)
            """)
        return try await documents(rows).first
    }

    /// `limit` documents, newest first, after `after` and with `metadata` when given; and
    /// whether more follow.
    static func list(
        limit: Int, after: UUID?, metadata: [String: String]?, in tx: TenantTransaction
    ) async throws -> (documents: [Document], hasMore: Bool) {
        let filter = try metadata.map(json)
        let rows = try await tx.query("""
            SELECT \(unescaped: columns) FROM documents
            WHERE (\(after)::uuid IS NULL OR id < \(after)) AND (\(filter)::jsonb IS NULL OR metadata @> \(filter)::jsonb)
            ORDER BY id DESC LIMIT \(Int32(limit + 1))
            """)
        let page = try await documents(rows)
        return (Array(page.prefix(limit)), page.count > limit)
    }

    static func find(_ id: UUID, in tx: TenantTransaction) async throws -> Document? {
        try await documents(try await tx.query("SELECT \(unescaped: columns) FROM documents WHERE id = \(id)")).first
    }

    /// The document with its metadata replaced; nil when there is none.
    static func setMetadata(_ metadata: [String: String], of id: UUID, in tx: TenantTransaction) async throws -> Document? {
        try await documents(try await tx.query("""
            UPDATE documents SET metadata = \(try json(metadata))::jsonb WHERE id = \(id) RETURNING \(unescaped: columns)
            """)).first
    }

    /// Deletes the document and its chunks; false when there was none.
    static func delete(_ id: UUID, in tx: TenantTransaction) async throws -> Bool {
        let rows = try await tx.query("DELETE FROM documents WHERE id = \(id) RETURNING id")
        for try await _ in rows { return true }
        return false
    }

    /// The document with its text.
    static func forIndexing(_ id: UUID, in tx: TenantTransaction) async throws -> Stored? {
        let rows = try await tx.query("SELECT \(unescaped: columns), body, api_key_id, request_id FROM documents WHERE id = \(id)")
        for try await (id, name, mediaType, bytes, status, chunkCount, model, failure, metadata, createdAt, indexedAt, body, apiKeyID, requestID)
            in rows.decode((UUID, String, String, Int32, String, Int32?, String, String?, String, Date, Date?, String, UUID?, String).self) {
            let document = try Self.document(id, name, mediaType, bytes, status, chunkCount, model, failure, metadata, createdAt, indexedAt)
            return Stored(document: document, body: body, apiKeyID: apiKeyID, requestID: requestID)
        }
        return nil
    }

    /// Marks the document indexed and stores its chunks, if it is still being processed: false
    /// when it was deleted or another delivery of its event indexed it first.
    static func storeIndex(of id: UUID, chunks: [Chunk], in tx: TenantTransaction) async throws -> Bool {
        let marked = try await tx.query("""
            UPDATE documents SET status = 'indexed', chunk_count = \(Int32(chunks.count)), failure = NULL, indexed_at = now()
            WHERE id = \(id) AND status = 'processing' RETURNING id
            """)
        var found = false
        for try await _ in marked { found = true }
        guard found else { return false }
        try await tx.execute("""
            INSERT INTO document_chunks (tenant_id, document_id, chunk_index, text, embedding)
            SELECT \(tx.tenantID), \(id), c.ordinality - 1, c.text, c.embedding
            FROM unnest(\(chunks.map(\.text))::text[], \(chunks.map { StoredVector.bytes(of: $0.embedding) })::bytea[])
                WITH ORDINALITY AS c(text, embedding, ordinality)
            """)
        return true
    }

    /// Marks the document failed, if it is still being processed.
    static func markFailed(_ id: UUID, reason: String, in tx: TenantTransaction) async throws {
        try await tx.execute("UPDATE documents SET status = 'failed', failure = \(reason) WHERE id = \(id) AND status = 'processing'")
    }

    /// What both rankings search, written out in each (a `PostgresQuery` cannot hold another):
    /// the chunks of indexed documents embedded with the model, of the given documents and with
    /// the given metadata if any (`searchBinds`: $1 to $3).
    private static let searchedChunks = """
        FROM document_chunks c JOIN documents d ON d.tenant_id = c.tenant_id AND d.id = c.document_id
        WHERE d.status = 'indexed' AND d.embedding_model = $1 AND ($2::uuid[] IS NULL OR c.document_id = ANY($2::uuid[]))
          AND ($3::jsonb IS NULL OR d.metadata @> $3::jsonb)
        """

    private static func searchBinds(model: String, search: SearchRequest) throws -> PostgresBindings {
        var binds = PostgresBindings()
        binds.append(model)
        binds.append(search.documentIDs)
        binds.append(try search.filter.map(json))
        return binds
    }

    /// The best `depth` chunks by PostgreSQL's full-text rank of the query's words, best first.
    static func keywordRanking(_ search: SearchRequest, model: String, depth: Int, in tx: TenantTransaction) async throws -> [ChunkKey] {
        var binds = try searchBinds(model: model, search: search)
        binds.append(search.query)
        binds.append(Int32(depth))
        let rows = try await tx.query(PostgresQuery(unsafeSQL: """
            SELECT c.document_id, c.chunk_index \(searchedChunks) AND c.words @@ websearch_to_tsquery('english', $4)
            ORDER BY ts_rank_cd(c.words, websearch_to_tsquery('english', $4)) DESC, c.document_id, c.chunk_index
            LIMIT $5
            """, binds: binds))
        var keys: [ChunkKey] = []
        for try await (document, index) in rows.decode((UUID, Int32).self) { keys.append(ChunkKey(documentID: document, index: Int(index))) }
        return keys
    }

    /// Hands the stored embeddings of every searched chunk to `visit` a document at a time, as
    /// the rows arrive: its chunks' places and their vectors one after another in that order.
    /// One row per document, not per chunk: reading a row costs microseconds, scoring a vector
    /// a fraction of one.
    static func scanEmbeddings(
        _ search: SearchRequest, model: String, in tx: TenantTransaction, _ visit: (UUID, [Int32], ByteBuffer) -> Void
    ) async throws {
        let binds = try searchBinds(model: model, search: search)
        let rows = try await tx.query(PostgresQuery(unsafeSQL: """
            SELECT c.document_id, array_agg(c.chunk_index ORDER BY c.chunk_index), string_agg(c.embedding, ''::bytea ORDER BY c.chunk_index)
            \(searchedChunks)
            GROUP BY c.document_id
            """, binds: binds))
        for try await (document, indexes, vectors) in rows.decode((UUID, [Int32], ByteBuffer).self) {
            visit(document, indexes, vectors)
        }
    }

    /// A chunk as a search result shows it.
    struct FoundChunk {
        var documentName: String
        var documentMetadata: [String: String]
        var text: String
    }

    /// Each of `keys` that still exists.
    static func chunks(_ keys: [ChunkKey], in tx: TenantTransaction) async throws -> [ChunkKey: FoundChunk] {
        let rows = try await tx.query("""
            SELECT c.document_id, c.chunk_index, d.name, d.metadata::text, c.text
            FROM unnest(\(keys.map(\.documentID))::uuid[], \(keys.map { Int32($0.index) })::int4[]) AS k(document_id, chunk_index)
            JOIN document_chunks c ON c.document_id = k.document_id AND c.chunk_index = k.chunk_index
            JOIN documents d ON d.tenant_id = c.tenant_id AND d.id = c.document_id
            """)
        var found: [ChunkKey: FoundChunk] = [:]
        for try await (document, index, name, metadata, text) in rows.decode((UUID, Int32, String, String, String).self) {
            found[ChunkKey(documentID: document, index: Int(index))] = FoundChunk(documentName: name, documentMetadata: try labels(metadata), text: text)
        }
        return found
    }

    /// Rows of `columns`.
    private static func documents(_ rows: PostgresRowSequence) async throws -> [Document] {
        var documents: [Document] = []
        for try await (id, name, mediaType, bytes, status, chunkCount, model, failure, metadata, createdAt, indexedAt)
            in rows.decode((UUID, String, String, Int32, String, Int32?, String, String?, String, Date, Date?).self) {
            documents.append(try document(id, name, mediaType, bytes, status, chunkCount, model, failure, metadata, createdAt, indexedAt))
        }
        return documents
    }

    private static func document(
        _ id: UUID, _ name: String, _ mediaType: String, _ bytes: Int32, _ status: String, _ chunkCount: Int32?, _ model: String,
        _ failure: String?, _ metadata: String, _ createdAt: Date, _ indexedAt: Date?
    ) throws -> Document {
        Document(
            id: id, name: name, mediaType: DocumentMediaType(rawValue: mediaType) ?? .plain, bytes: Int(bytes),
            status: DocumentStatus(rawValue: status) ?? .failed, chunkCount: chunkCount.map(Int.init), embeddingModel: model,
            failure: failure, metadata: try labels(metadata), createdAt: createdAt, indexedAt: indexedAt)
    }

    private static func labels(_ json: String) throws -> [String: String] {
        try JSONCoding.decode([String: String].self, from: Data(json.utf8))
    }

    private static func json(_ labels: [String: String]) throws -> String {
        String(decoding: try JSONCoding.encode(labels), as: UTF8.self)
    }
}
