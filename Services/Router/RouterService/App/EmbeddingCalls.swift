import Contracts
import Foundation

/// Answers embeddings calls from the catalog: the model's deployments that make embeddings, in
/// priority order, the next one taking the call when one fails with a retryable error or its
/// breaker is open; one `usage.recorded` per call, for the deployment that answered.
struct EmbeddingCalls: Sendable {
    let catalogs: TenantCatalogs
    let providers: Providers
    let usage: UsagePublisher
    let health: DeploymentHealth

    func embed(_ call: RouterEmbeddingsCall) async throws -> (EmbeddingsResponse, CallRecord) {
        let request = call.embeddings
        let entry = try await catalogs.model(request.model, tenant: call.tenantID)
        let deployments = entry.deployments.filter { $0.supports(.embeddings) }
        guard !deployments.isEmpty else {
            throw ServiceFault(code: "unsupported_model", message: "The model `\(request.model)` does not make embeddings.", param: "model")
        }
        let inputs = request.input.values
        guard !inputs.isEmpty, inputs.allSatisfy({ !$0.isEmpty }) else {
            throw ServiceFault(code: "invalid_value", message: "input must be a non-empty string or list of non-empty strings.", param: "input")
        }
        _ = try EmbeddingsRequest.format(of: request)
        if let dimensions = request.dimensions, !(1...4096).contains(dimensions) {
            throw ServiceFault(code: "invalid_value", message: "dimensions must be from 1 to 4096.", param: "dimensions")
        }
        let longest = inputs.map(LocalTokenizer.count).max() ?? 0
        let fitting = deployments.filter { $0.contextWindow >= longest }
        guard !fitting.isEmpty else {
            throw ServiceFault(
                code: "context_length_exceeded",
                message: "An input has \(longest) tokens; the model takes \(deployments.map(\.contextWindow).max()!).", param: "input")
        }

        var failures: [String] = []
        for deployment in fitting {
            guard health.allowsCall(to: deployment.name), let provider = providers.embeddingProvider(for: deployment) else {
                failures.append("\(deployment.name): circuit open")
                continue
            }
            var record = CallRecord(
                deployment: deployment, price: entry.charge ?? deployment.price, promptTokens: 0, completionTokens: 0, started: .now, startedAt: Date(), firstToken: nil, status: .failed)
            do {
                let answer = try await provider.embed(request, on: deployment)
                record.promptTokens = answer.usage.promptTokens
                record.status = .succeeded
                health.recordSuccess(deployment.name)
                health.recordCall(record)
                usage.publish(record, requestID: call.requestID, tenantID: call.tenantID, apiKeyID: call.apiKeyID, model: request.model)
                return (answer, record)
            } catch let error as ProviderError {
                health.recordFailure(deployment.name, error)
                health.recordCall(record)
                guard error.isRetryable else {
                    throw ServiceFault(code: "upstream_error", message: "\(deployment.name) failed: \(error.message)")
                }
                failures.append(error.message)
            } catch {
                health.recordAbandoned(deployment.name)
                throw error
            }
        }
        throw ServiceFault(code: "upstream_unavailable", message: "No deployment of `\(request.model)` answered: \(failures.joined(separator: "; "))")
    }
}
