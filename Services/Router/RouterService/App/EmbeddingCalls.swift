import Contracts
import Foundation

/// Answers embeddings calls with the `local` model, one `usage.recorded` per call.
struct EmbeddingCalls: Sendable {
    let catalogs: CatalogStore
    let model = LocalModel()
    let usage: UsagePublisher

    func embed(_ call: RouterEmbeddingsCall) async throws -> (EmbeddingsResponse, Deployment) {
        let request = call.embeddings
        guard let entry = catalogs.catalog.model(request.model) else {
            throw ServiceFault(code: "model_not_found", message: "The model `\(request.model)` does not exist or you do not have access to it.", param: "model")
        }
        guard let deployment = entry.deployments.first(where: { $0.supports(.embeddings) }) else {
            throw ServiceFault(code: "unsupported_model", message: "The model `\(request.model)` does not make embeddings.", param: "model")
        }
        let inputs = request.input.values
        guard !inputs.isEmpty, inputs.allSatisfy({ !$0.isEmpty }) else {
            throw ServiceFault(code: "invalid_value", message: "input must be a non-empty string or list of non-empty strings.", param: "input")
        }
        guard let format = EmbeddingVector.Format(rawValue: request.encodingFormat ?? "float") else {
            throw ServiceFault(code: "invalid_value", message: "encoding_format must be float or base64.", param: "encoding_format")
        }
        let dimensions = request.dimensions ?? LocalModel.embeddingDimensions
        guard (1...4096).contains(dimensions) else {
            throw ServiceFault(code: "invalid_value", message: "dimensions must be from 1 to 4096.", param: "dimensions")
        }
        let tokens = inputs.map(LocalTokenizer.count)
        if let longest = tokens.max(), longest > deployment.contextWindow {
            throw ServiceFault(code: "context_length_exceeded", message: "An input has \(longest) tokens; the model takes \(deployment.contextWindow).", param: "input")
        }
        let started = ContinuousClock.now
        let startedAt = Date()
        let data = inputs.enumerated().map { index, text in
            EmbeddingsResponse.Embedding(index: index, embedding: EmbeddingVector(model.embedding(of: text, dimensions: dimensions), format: format))
        }
        let promptTokens = tokens.reduce(0, +)
        await usage.publish(
            CallRecord(deployment: deployment, promptTokens: promptTokens, completionTokens: 0, started: started,
                       startedAt: startedAt, firstToken: nil, status: .succeeded),
            requestID: call.requestID, tenantID: call.tenantID, apiKeyID: call.apiKeyID, model: request.model)
        return (EmbeddingsResponse(data: data, model: request.model, usage: .init(promptTokens: promptTokens)), deployment)
    }
}
