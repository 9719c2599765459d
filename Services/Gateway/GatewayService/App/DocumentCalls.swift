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
    /// keeping what it reserved against budgets (the most its chunks can cost: twice its bytes in
    /// tokens, since chunks overlap) until the ledger's real cost replaces it at the next budget
    /// check (`BudgetReconciler`), so documents uploaded together never spend past a budget.
    func create(_ upload: DocumentUpload, caller: Caller, requestID: String) async throws -> (Document, Admission?) {
        let tenant = try caller.requireTenant()
        try checkModel(caller)
        let bytes = upload.text.utf8.count
        let admission = try await calls.admit(
            caller, embeddingModel, requestID: requestID, prompt: ModelCalls.estimateTokens(upload.text) * 5 / 4,
            promptAtMost: 2 * bytes, completionLimit: 0)
        do {
            let call = DocumentCreateCall(tenantID: tenant, apiKeyID: caller.apiKeyID, requestID: requestID, embeddingModel: embeddingModel, upload: upload)
            let document = try await ingestion.create(call, correlationID: requestID)
            await calls.settle(admission, caller, actualTokens: nil, actualCostMicros: nil)
            return (document, admission)
        } catch {
            await calls.settle(admission, caller, actualTokens: 0, actualCostMicros: 0)
            throw error
        }
    }

    /// Searches the tenant's documents, settling the query's embedding at its real cost.
    func search(_ search: SearchRequest, caller: Caller, requestID: String) async throws -> (SearchResults, Admission?) {
        let tenant = try caller.requireTenant()
        try checkModel(caller)
        let admission = try await calls.admit(
            caller, embeddingModel, requestID: requestID, prompt: ModelCalls.estimateTokens(search.query),
            promptAtMost: search.query.utf8.count, completionLimit: 0)
        do {
            let call = SearchCall(tenantID: tenant, apiKeyID: caller.apiKeyID, requestID: requestID, embeddingModel: embeddingModel, search: search)
            let (results, costMicros) = try await ingestion.search(call, correlationID: requestID)
            await calls.settle(admission, caller, actualTokens: results.usage.totalTokens, actualCostMicros: costMicros)
            return (results, admission)
        } catch {
            await calls.settle(admission, caller, actualTokens: 0, actualCostMicros: 0)
            throw error
        }
    }

    /// A key limited to some models must be allowed the embedding model: it pays for it.
    private func checkModel(_ caller: Caller) throws(APIError) {
        guard caller.may(use: embeddingModel) else {
            throw APIError(.permission, "This key may not use `\(embeddingModel)`, the model documents and searches are embedded with.",
                           code: "model_not_allowed", status: .forbidden)
        }
    }
}
