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

/// Unit vectors of texts, in order, and what making them cost.
struct Embedded: Sendable {
    var vectors: [[Float]] = []
    var tokens = 0
    /// Nil when the router did not say.
    var costMicros: Int64? = 0
}

/// Embeddings from the router (`svc.router.embeddings`), charged to the tenant and key the
/// call names, like a caller's own call through the gateway.
struct RouterEmbedder: Sendable {
    let bus: Bus
    /// Texts sent in one call.
    var batchSize = 64
    var timeout: Duration = .seconds(120)

    /// `texts` in calls of `batchSize`; a call after the first is recorded under the request id
    /// with its number appended.
    func embed(_ texts: [String], model: String, tenant: UUID, apiKey: UUID?, requestID: String) async throws(EmbeddingFailure) -> Embedded {
        var embedded = Embedded()
        embedded.vectors.reserveCapacity(texts.count)
        for (number, start) in stride(from: 0, to: texts.count, by: batchSize).enumerated() {
            let batch = Array(texts[start..<min(start + batchSize, texts.count)])
            let part = try await embedBatch(batch, model: model, tenant: tenant, apiKey: apiKey, requestID: number == 0 ? requestID : "\(requestID)-\(number)")
            embedded.vectors += part.vectors
            embedded.tokens += part.tokens
            embedded.costMicros = embedded.costMicros.flatMap { sum in part.costMicros.map { sum + $0 } }
        }
        return embedded
    }

    private func embedBatch(_ texts: [String], model: String, tenant: UUID, apiKey: UUID?, requestID: String) async throws(EmbeddingFailure) -> Embedded {
        let call = RouterEmbeddingsCall(requestID: requestID, tenantID: tenant, apiKeyID: apiKey,
                                        embeddings: EmbeddingsRequest(model: model, input: .many(texts)))
        let response: EmbeddingsResponse
        let costMicros: Int64?
        do {
            let reply = try await bus.request(
                Subject.service(.router, RouterVerb.embeddings), payload: JSONCoding.encode(call),
                headers: [BusHeader.correlationID: requestID], timeout: timeout)
            response = try JSONCoding.decode(EmbeddingsResponse.self, from: reply.payload)
            costMicros = reply.headers[RouterHeader.costMicros].flatMap(Int64.init)
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
        return Embedded(vectors: vectors, tokens: response.usage.totalTokens, costMicros: costMicros)
    }

    /// Fault codes that say the call itself is wrong.
    static let refusals: Set<String> = ["model_not_found", "unsupported_model", "invalid_value", "invalid_request", "upstream_error"]

    /// Scaled to length 1, so a dot product is a cosine similarity; a zero vector as it is.
    static func unit(_ values: [Float]) -> [Float] {
        let norm = values.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
        return norm > 0 ? values.map { $0 / norm } : values
    }
}
