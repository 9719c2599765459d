import Contracts
import Foundation
import SwitchyardDatabase

/// Hybrid search of a tenant's indexed documents: the query is embedded with the model the call
/// names, and the chunks of documents indexed with it are ranked by meaning and by words
/// together (`DocumentRepository.search`).
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
        let hits = try await database.withTenant(call.tenantID) { tx in
            try await DocumentRepository.search(
                query: search.query, vector: query.vectors[0], model: model, documentIDs: search.documentIDs, limit: limit,
                depth: max(limit * Self.depthPerResult, 40), in: tx)
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
    }
}
