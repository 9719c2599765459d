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

    private static let columns = "id, name, media_type, bytes, status, chunk_count, embedding_model, failure, created_at, indexed_at"

    static func insert(id: UUID, call: DocumentCreateCall, mediaType: DocumentMediaType, in tx: TenantTransaction) async throws -> Document {
        let upload = call.upload
        let rows = try await tx.query("""
            INSERT INTO documents (tenant_id, id, name, media_type, body, bytes, api_key_id, request_id, embedding_model)
            VALUES (\(tx.tenantID), \(id), \(upload.name), \(mediaType.rawValue), \(upload.text), \(Int32(upload.text.utf8.count)),
                    \(call.apiKeyID), \(call.requestID), \(call.embeddingModel))
            RETURNING \(unescaped: columns)
            """)
        return try await documents(rows)[0]
    }

    /// `limit` documents, newest first, after `after` when given; and whether more follow.
    static func list(limit: Int, after: UUID?, in tx: TenantTransaction) async throws -> (documents: [Document], hasMore: Bool) {
        let rows = try await tx.query("""
            SELECT \(unescaped: columns) FROM documents
            WHERE \(after)::uuid IS NULL OR id < \(after)
            ORDER BY id DESC LIMIT \(Int32(limit + 1))
            """)
        let page = try await documents(rows)
        return (Array(page.prefix(limit)), page.count > limit)
    }

    static func find(_ id: UUID, in tx: TenantTransaction) async throws -> Document? {
        try await documents(try await tx.query("SELECT \(unescaped: columns) FROM documents WHERE id = \(id)")).first
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
        for try await (id, name, mediaType, bytes, status, chunkCount, model, failure, createdAt, indexedAt, body, apiKeyID, requestID)
            in rows.decode((UUID, String, String, Int32, String, Int32?, String, String?, Date, Date?, String, UUID?, String).self) {
            let document = Self.document(id, name, mediaType, bytes, status, chunkCount, model, failure, createdAt, indexedAt)
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
        // Vectors go as array literals: PostgreSQL cannot unnest an array of arrays into rows.
        let vectors = chunks.map { "{" + $0.embedding.map { "\($0)" }.joined(separator: ",") + "}" }
        try await tx.execute("""
            INSERT INTO document_chunks (tenant_id, document_id, chunk_index, text, embedding)
            SELECT \(tx.tenantID), \(id), c.ordinality - 1, c.text, c.embedding::real[]
            FROM unnest(\(chunks.map(\.text))::text[], \(vectors)::text[]) WITH ORDINALITY AS c(text, embedding, ordinality)
            """)
        return true
    }

    /// Marks the document failed, if it is still being processed.
    static func markFailed(_ id: UUID, reason: String, in tx: TenantTransaction) async throws {
        try await tx.execute("UPDATE documents SET status = 'failed', failure = \(reason) WHERE id = \(id) AND status = 'processing'")
    }

    /// The chunks that answer `query` best by reciprocal rank fusion of two rankings: by cosine
    /// similarity of their embeddings to `vector` and by full-text rank of the query's words,
    /// each over its best `depth` chunks.
    static func search(
        query: String, vector: [Float], model: String, documentIDs: [UUID]?, limit: Int, depth: Int, in tx: TenantTransaction
    ) async throws -> [SearchResults.Hit] {
        let rows = try await tx.query("""
            WITH searched AS (
                SELECT c.document_id, c.chunk_index, c.words, c.embedding
                FROM document_chunks c JOIN documents d ON d.tenant_id = c.tenant_id AND d.id = c.document_id
                WHERE d.status = 'indexed' AND d.embedding_model = \(model)
                  AND (\(documentIDs)::uuid[] IS NULL OR c.document_id = ANY(\(documentIDs)::uuid[]))
            ), semantic AS (
                SELECT document_id, chunk_index,
                       row_number() OVER (ORDER BY vector_dot(embedding, \(vector)::real[]) DESC, document_id, chunk_index) AS rank
                FROM searched ORDER BY rank LIMIT \(Int32(depth))
            ), keyword AS (
                SELECT document_id, chunk_index,
                       row_number() OVER (ORDER BY ts_rank_cd(words, q) DESC, document_id, chunk_index) AS rank
                FROM searched, websearch_to_tsquery('english', \(query)) AS q
                WHERE words @@ q ORDER BY rank LIMIT \(Int32(depth))
            ), fused AS (
                SELECT document_id, chunk_index, k.rank AS keyword_rank,
                       COALESCE(1.0 / (60 + s.rank), 0) + COALESCE(1.0 / (60 + k.rank), 0) AS score
                FROM semantic s FULL JOIN keyword k USING (document_id, chunk_index)
            )
            SELECT f.document_id, d.name, f.chunk_index, c.text, f.score::float8,
                   vector_dot(c.embedding, \(vector)::real[]), f.keyword_rank
            FROM fused f
            JOIN document_chunks c USING (document_id, chunk_index)
            JOIN documents d ON d.id = f.document_id
            ORDER BY f.score DESC, f.document_id, f.chunk_index
            LIMIT \(Int32(limit))
            """)
        var hits: [SearchResults.Hit] = []
        for try await (document, name, index, text, score, similarity, keywordRank)
            in rows.decode((UUID, String, Int32, String, Double, Double, Int64?).self) {
            hits.append(.init(documentID: document, documentName: name, chunkIndex: Int(index), text: text, score: score,
                              similarity: similarity, keywordRank: keywordRank.map(Int.init)))
        }
        return hits
    }

    /// Rows of `columns`.
    private static func documents(_ rows: PostgresRowSequence) async throws -> [Document] {
        var documents: [Document] = []
        for try await (id, name, mediaType, bytes, status, chunkCount, model, failure, createdAt, indexedAt)
            in rows.decode((UUID, String, String, Int32, String, Int32?, String, String?, Date, Date?).self) {
            documents.append(document(id, name, mediaType, bytes, status, chunkCount, model, failure, createdAt, indexedAt))
        }
        return documents
    }

    private static func document(
        _ id: UUID, _ name: String, _ mediaType: String, _ bytes: Int32, _ status: String, _ chunkCount: Int32?, _ model: String,
        _ failure: String?, _ createdAt: Date, _ indexedAt: Date?
    ) -> Document {
        Document(
            id: id, name: name, mediaType: DocumentMediaType(rawValue: mediaType) ?? .plain, bytes: Int(bytes),
            status: DocumentStatus(rawValue: status) ?? .failed, chunkCount: chunkCount.map(Int.init), embeddingModel: model,
            failure: failure, createdAt: createdAt, indexedAt: indexedAt)
    }
}
