import Contracts
import Foundation

/// Documents and searches for one caller, under the caller's quotas and budgets like any model
/// call: indexing a document and embedding a query are embedding calls the tenant pays for.
struct DocumentCalls: Sendable {
    let ingestion: IngestionClient
    /// Whose quotas and budgets uploads and searches take.
    let calls: ModelCalls
    /// What documents and queries are embedded with.
    let embeddingModel: String

    /// Stores a document for indexing. Its embedding calls happen later, in the ingestion
    /// service: the upload takes its limits now as one embeddings call and settles at once,
    /// keeping what it reserved against budgets (the most its chunks can cost: twice its text's
    /// bytes in tokens, since chunks overlap; for a file, whose text is read later, twice the most
    /// text a document holds) until the ledger's real cost replaces it at the next budget check
    /// (`BudgetReconciler`), so documents uploaded together never spend past a budget.
    func create(_ upload: DocumentUpload, caller: Caller, requestID: String) async throws -> (Document, Admission?) {
        let tenant = try caller.requireTenant()
        try caller.requireModel(embeddingModel, Self.embedded)
        let textAtMost = upload.type.isFile ? DocumentLimits.maxTextBytes : upload.bytes
        let admission = try await calls.admit(
            caller, embeddingModel, requestID: requestID, prompt: (upload.bytes + 3) / 4 * 5 / 4,
            promptAtMost: 2 * textAtMost, completionLimit: 0)
        let document = try await calls.settling(admission, caller) {
            let call = DocumentCreateCall(tenantID: tenant, apiKeyID: caller.apiKeyID, requestID: requestID, embeddingModel: embeddingModel, upload: upload)
            return (try await ingestion.create(call, correlationID: requestID), ModelCalls.Used.later)
        }
        return (document, admission)
    }

    /// Searches the tenant's documents, settling the query's embedding at its real cost.
    func search(_ search: SearchRequest, caller: Caller, requestID: String) async throws -> (SearchResults, Admission?) {
        let tenant = try caller.requireTenant()
        try caller.requireModel(embeddingModel, Self.embedded)
        let admission = try await calls.admit(
            caller, embeddingModel, requestID: requestID, prompt: ModelCalls.estimateTokens(search.query),
            promptAtMost: search.query.utf8.count, completionLimit: 0)
        let results = try await calls.settling(admission, caller) {
            let call = SearchCall(tenantID: tenant, apiKeyID: caller.apiKeyID, requestID: requestID, embeddingModel: embeddingModel, search: search)
            let (results, costMicros) = try await ingestion.search(call, correlationID: requestID)
            return (results, ModelCalls.Used(tokens: results.usage.totalTokens, costMicros: costMicros))
        }
        return (results, admission)
    }

    static let embedded = "the model documents and searches are embedded with"
}
