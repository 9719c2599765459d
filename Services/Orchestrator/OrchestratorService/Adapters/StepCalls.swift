import Contracts
import Foundation
import SwitchyardBus

/// Why a step's call failed.
enum StepFailure: Error, CustomStringConvertible {
    /// Refused for what it asks (no such model, bad input): trying again changes nothing.
    case refused(String)
    /// Could not be answered now; trying again may pass.
    case unavailable(String)
    /// What it names is not there (a document deleted meanwhile).
    case notFound(String)

    var description: String {
        switch self {
        case .refused(let why), .unavailable(let why), .notFound(let why): why
        }
    }

    /// Whether trying again cannot change the answer.
    var isFinal: Bool {
        if case .unavailable = self { false } else { true }
    }
}

/// The calls a run's steps make: chat completions from the router, searches and documents from
/// ingestion, charged to the run's tenant and key and recorded under the run's request id and the
/// step.
struct StepCalls: Sendable {
    let bus: Bus
    /// How long a call, or a document's indexing, may take.
    var timeout: Duration = .seconds(300)

    func chat(_ completion: ChatCompletionRequest, tenant: UUID, apiKey: UUID?, requestID: String) async throws(StepFailure) -> String {
        let call = RouterChatCall(requestID: requestID, tenantID: tenant, apiKeyID: apiKey, completion: completion)
        let reply = try await request(.router, RouterVerb.chat, call, requestID: requestID)
        guard let answer = try? JSONCoding.decode(ChatCompletion.self, from: reply) else {
            throw .unavailable("the router's answer could not be read")
        }
        return answer.choices.first?.message.content?.text ?? ""
    }

    func search(_ call: SearchCall) async throws(StepFailure) -> [String] {
        let reply = try await request(.ingestion, IngestionVerb.search, call, requestID: call.requestID)
        guard let results = try? JSONCoding.decode(SearchResults.self, from: reply) else {
            throw .unavailable("the search's answer could not be read")
        }
        return results.data.map(\.text)
    }

    /// Stores the document (once, under the call's document id, however often asked) and waits
    /// until it is indexed.
    func storeIndexed(_ call: DocumentCreateCall) async throws(StepFailure) -> Document {
        var document: Document = try decoded(try await request(.ingestion, IngestionVerb.create, call, requestID: call.requestID))
        let shown = DocumentCall(tenantID: call.tenantID, documentID: document.id)
        let deadline = ContinuousClock.now + timeout
        var pause = Duration.milliseconds(50)
        while document.status == .processing {
            guard ContinuousClock.now < deadline, !Task.isCancelled else {
                throw .unavailable("document \(document.id) was not indexed within \(timeout)")
            }
            try? await Task.sleep(for: pause)
            pause = min(pause * 2, .seconds(2))
            document = try decoded(try await request(.ingestion, IngestionVerb.show, shown, requestID: call.requestID))
        }
        guard document.status == .indexed else { throw .refused("the document could not be indexed: \(document.failure ?? "")") }
        return document
    }

    /// Deletes a document: false when there was none (never stored, or deleted before).
    func deleteDocument(_ call: DocumentCall, requestID: String) async throws(StepFailure) -> Bool {
        do {
            _ = try await request(.ingestion, IngestionVerb.delete, call, requestID: requestID)
            return true
        } catch {
            if case .notFound = error { return false }
            throw error
        }
    }

    private func decoded<Answer: Decodable>(_ reply: Data) throws(StepFailure) -> Answer {
        guard let answer = try? JSONCoding.decode(Answer.self, from: reply) else { throw .unavailable("ingestion's answer could not be read") }
        return answer
    }

    /// Fault codes that say the call itself is wrong.
    static let refusals: Set<String> = [
        "model_not_found", "unsupported_model", "invalid_value", "invalid_request", "upstream_error", "context_length_exceeded",
        "embedding_refused", "routing_unavailable",
    ]

    private func request(_ service: ServiceName, _ verb: String, _ call: some Encodable, requestID: String) async throws(StepFailure) -> Data {
        do {
            let reply = try await bus.request(
                Subject.service(service, verb), payload: JSONCoding.encode(call), headers: [BusHeader.correlationID: requestID], timeout: timeout)
            return reply.payload
        } catch BusError.remote(let fault) where Self.refusals.contains(fault.code) {
            throw .refused(fault.message)
        } catch BusError.remote(let fault) where fault.code == "not_found" {
            throw .notFound(fault.message)
        } catch BusError.remote(let fault) {
            throw .unavailable(fault.message)
        } catch {
            throw .unavailable("\(service.rawValue) did not answer: \(error)")
        }
    }
}
