import Contracts
import Foundation
import SwitchyardBus

/// The ingestion service's bus interface as the gateway calls it, with its faults as the API's
/// errors.
struct IngestionClient: Sendable {
    let bus: Bus
    /// A search embeds its query through the router first; a document is stored at once.
    var timeout: Duration = .seconds(30)

    func create(_ call: DocumentCreateCall, correlationID: String) async throws(APIError) -> Document {
        try await request(IngestionVerb.create, call, correlationID: correlationID)
    }

    func list(_ call: DocumentListCall, correlationID: String) async throws(APIError) -> DocumentList {
        try await request(IngestionVerb.list, call, correlationID: correlationID)
    }

    func show(_ call: DocumentCall, correlationID: String) async throws(APIError) -> Document {
        try await request(IngestionVerb.show, call, correlationID: correlationID)
    }

    func delete(_ call: DocumentCall, correlationID: String) async throws(APIError) -> DocumentDeleted {
        try await request(IngestionVerb.delete, call, correlationID: correlationID)
    }

    /// The results, and what embedding the query cost when the router said.
    func search(_ call: SearchCall, correlationID: String) async throws(APIError) -> (SearchResults, costMicros: Int64?) {
        let reply = try await exchange(IngestionVerb.search, call, correlationID: correlationID)
        return (try decode(reply), reply.headers[RouterHeader.costMicros].flatMap(Int64.init))
    }

    private func request<Answer: Decodable>(_ verb: String, _ call: some Encodable, correlationID: String) async throws(APIError) -> Answer {
        try decode(try await exchange(verb, call, correlationID: correlationID))
    }

    private func decode<Answer: Decodable>(_ reply: NATSMessage) throws(APIError) -> Answer {
        do {
            return try JSONCoding.decode(Answer.self, from: reply.payload)
        } catch {
            throw Self.unavailable
        }
    }

    private static let unavailable = APIError(
        .serviceUnavailable, "Documents cannot be reached right now; please retry.", code: "documents_unavailable", headers: [.retryAfter: "1"])

    private func exchange(_ verb: String, _ call: some Encodable, correlationID: String) async throws(APIError) -> NATSMessage {
        do {
            return try await bus.request(
                Subject.service(.ingestion, verb), payload: JSONCoding.encode(call),
                headers: [BusHeader.correlationID: correlationID], timeout: timeout)
        } catch BusError.remote(let fault) where fault.code == "not_found" {
            throw .notFound("document")
        } catch BusError.remote(let fault) where fault.code == "invalid_value" {
            throw APIError.invalid(fault.param ?? "body", fault.message)
        } catch BusError.remote(let fault) where fault.code == "too_large" {
            throw APIError(.invalidRequest, fault.message, code: "document_too_large", param: fault.param, status: .contentTooLarge)
        } catch BusError.remote(let fault) where fault.code == "embedding_refused" {
            throw APIError(.serviceUnavailable, fault.message, code: fault.code, headers: [.retryAfter: "1"])
        } catch {
            throw Self.unavailable
        }
    }
}
