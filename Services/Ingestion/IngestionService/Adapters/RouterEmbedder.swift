import Contracts
import Foundation
import SwitchyardBus

/// Why texts could not be embedded.
enum EmbeddingFailure: Error, CustomStringConvertible {
    /// The router refused the call for what it is (no such model, not an embeddings model, the
    /// provider refused the input): asking again gets the same answer.
    case refused(ServiceFault)
    /// The router or its providers could not answer now; later may work.
    case unavailable(String)

    var description: String {
        switch self {
        case .refused(let fault): fault.message
        case .unavailable(let reason): reason
        }
    }
}

/// Embeddings from the router (`svc.router.embeddings`), charged to the tenant and key the
/// call names, like a caller's own call through the gateway.
struct RouterEmbedder: Sendable {
    let bus: Bus
    /// Texts sent in one call.
    var batchSize = 64
    var timeout: Duration = .seconds(120)

    /// Unit vectors of `texts`, in order.
    func embed(_ texts: [String], model: String, tenant: UUID, apiKey: UUID?, requestID: String) async throws(EmbeddingFailure) -> [[Float]] {
        var vectors: [[Float]] = []
        vectors.reserveCapacity(texts.count)
        for (number, start) in stride(from: 0, to: texts.count, by: batchSize).enumerated() {
            let batch = Array(texts[start..<min(start + batchSize, texts.count)])
            let id = texts.count > batchSize ? "\(requestID)-\(number)" : requestID
            vectors += try await embedBatch(batch, model: model, tenant: tenant, apiKey: apiKey, requestID: id)
        }
        return vectors
    }

    private func embedBatch(_ texts: [String], model: String, tenant: UUID, apiKey: UUID?, requestID: String) async throws(EmbeddingFailure) -> [[Float]] {
        let call = RouterEmbeddingsCall(requestID: requestID, tenantID: tenant, apiKeyID: apiKey,
                                        embeddings: EmbeddingsRequest(model: model, input: .many(texts)))
        let response: EmbeddingsResponse
        do {
            let reply = try await bus.request(
                Subject.service(.router, RouterVerb.embeddings), payload: JSONCoding.encode(call),
                headers: [BusHeader.correlationID: requestID], timeout: timeout)
            response = try JSONCoding.decode(EmbeddingsResponse.self, from: reply.payload)
        } catch BusError.remote(let fault) where Self.refusals.contains(fault.code) {
            throw .refused(fault)
        } catch BusError.remote(let fault) {
            throw .unavailable(fault.message)
        } catch {
            throw .unavailable("the router did not answer: \(error)")
        }
        let ordered = response.data.sorted { $0.index < $1.index }
        guard ordered.count == texts.count else {
            throw .unavailable("the router answered \(ordered.count) embeddings for \(texts.count) texts")
        }
        var vectors: [[Float]] = []
        for item in ordered {
            guard case .floats(let values) = item.embedding, !values.isEmpty, values.allSatisfy(\.isFinite) else {
                throw .unavailable("the router answered an embedding that is not a list of finite numbers")
            }
            vectors.append(Self.unit(values))
        }
        return vectors
    }

    /// Fault codes that say the call itself is wrong.
    static let refusals: Set<String> = ["model_not_found", "unsupported_model", "invalid_value", "invalid_request", "upstream_error"]

    /// Scaled to length 1, so a dot product is a cosine similarity; a zero vector as it is.
    static func unit(_ values: [Float]) -> [Float] {
        let norm = values.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
        return norm > 0 ? values.map { $0 / norm } : values
    }
}
