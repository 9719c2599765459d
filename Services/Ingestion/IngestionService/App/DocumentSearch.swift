import Contracts
import Foundation
import SwitchyardDatabase

/// Hybrid search of a tenant's indexed documents: the query is embedded with the model the call
/// names, and the chunks of documents indexed with it are ranked twice, by the cosine similarity
/// of their embeddings (every chunk scored as it streams from PostgreSQL: an exact search, no
/// approximate index) and by PostgreSQL's full-text rank, and the rankings are fused by
/// reciprocal rank (`RankFusion`).
struct DocumentSearch: Sendable {
    let database: Database
    let embedder: RouterEmbedder

    /// Each ranking looks this many times deeper than the results asked for, so a chunk ranked
    /// well by one and poorly by the other still meets the fusion.
    static let depthPerResult = 4

    /// The results, and what embedding the query cost (nil when the router did not say).
    func search(_ call: SearchCall) async throws -> (SearchResults, costMicros: Int64?) {
        let search = call.search
        let limit = search.limit ?? 10
        try Self.check(search)
        let model = call.embeddingModel
        let query: Embedded
        do {
            query = try await embedder.embed([search.query], model: model, tenant: call.tenantID, apiKey: call.apiKeyID, requestID: call.requestID)
        } catch .refused(let fault) {
            throw ServiceFault(code: "embedding_refused", message: "The query could not be embedded with `\(model)`: \(fault.message)")
        } catch .unavailable(let reason) {
            throw ServiceFault(code: "unavailable", message: "The query could not be embedded now: \(reason)")
        }
        let depth = max(limit * Self.depthPerResult, 40)
        let hits = try await database.withTenant(call.tenantID) { tx in
            let keyword = try await DocumentRepository.keywordRanking(search, model: model, depth: depth, in: tx)
            let keywordKeys = Set(keyword)
            var best = BestChunks(depth: depth)
            var similarity: [ChunkKey: Double] = [:]
            try await DocumentRepository.scanEmbeddings(search, model: model, in: tx) { document, indexes, stored in
                // Vectors of another length were made by another model of the same name: unranked.
                guard let scores = StoredVector.similarities(stored, count: indexes.count, to: query.vectors[0]) else { return }
                for (index, score) in zip(indexes, scores) {
                    let key = ChunkKey(documentID: document, index: Int(index))
                    best.offer(key, similarity: score)
                    if keywordKeys.contains(key) { similarity[key] = score }
                }
            }
            let semantic = best.ranked()
            for (key, score) in semantic { similarity[key] = score }
            let fused = RankFusion.fuse(semantic: semantic.map(\.key), keyword: keyword, limit: limit)
            let chunks = try await DocumentRepository.chunks(fused.map(\.key), in: tx)
            return fused.compactMap { hit -> SearchResults.Hit? in
                guard let chunk = chunks[hit.key] else { return nil }
                return SearchResults.Hit(
                    documentID: hit.key.documentID, documentName: chunk.documentName, documentMetadata: chunk.documentMetadata,
                    chunkIndex: hit.key.index, text: chunk.text, score: hit.score, similarity: similarity[hit.key] ?? 0,
                    keywordRank: hit.keywordRank)
            }
        }
        return (SearchResults(data: hits, model: model, usage: EmbeddingsResponse.Usage(promptTokens: query.tokens)), query.costMicros)
    }

    static func check(_ search: SearchRequest) throws(ServiceFault) {
        guard !search.query.trimmingWhitespace().isEmpty, search.query.utf8.count <= DocumentLimits.maxQueryBytes else {
            throw ServiceFault(code: "invalid_value", message: "query must be 1 to \(DocumentLimits.maxQueryBytes) bytes, not only spaces.", param: "query")
        }
        try Documents.rejectNUL(search.query, param: "query")
        if let limit = search.limit, !(1...DocumentLimits.maxSearchResults).contains(limit) {
            throw ServiceFault(code: "invalid_value", message: "limit must be from 1 to \(DocumentLimits.maxSearchResults).", param: "limit")
        }
        if let ids = search.documentIDs, ids.isEmpty || ids.count > 100 {
            throw ServiceFault(code: "invalid_value", message: "document_ids must name 1 to 100 documents.", param: "document_ids")
        }
        if let filter = search.filter, let problem = DocumentMetadata.problem(in: filter, param: "filter") {
            throw ServiceFault(code: "invalid_value", message: problem.message, param: problem.param)
        }
    }
}
