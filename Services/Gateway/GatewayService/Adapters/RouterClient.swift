import Contracts
import Foundation
import SwitchyardBus

/// The router's bus interface as the gateway calls it, with the router's faults and the bus's
/// failures turned into the public API's errors.
struct RouterClient: Sendable {
    let bus: Bus
    /// How long a model call may take, end to end; the router sees it as the call's deadline.
    let timeout: Duration

    struct Reply: Sendable {
        var payload: Data
        var deployment: String?
        var costMicros: Int64?
        /// The call's tokens, for settling quotas without decoding the answer.
        var totalTokens: Int?
    }

    func complete(_ call: RouterChatCall, correlationID: String) async throws(APIError) -> Reply {
        try await request(RouterVerb.chat, call, correlationID: correlationID)
    }

    func embed(_ call: RouterEmbeddingsCall, correlationID: String) async throws(APIError) -> Reply {
        try await request(RouterVerb.embeddings, call, correlationID: correlationID)
    }

    func models(tenant: UUID, correlationID: String) async throws(APIError) -> ModelList {
        let reply = try await request(RouterVerb.models, RouterModelsCall(tenantID: tenant), correlationID: correlationID, timeout: .seconds(5))
        do {
            return try JSONCoding.decode(ModelList.self, from: reply.payload)
        } catch {
            throw .internalError
        }
    }

    /// The chunks of a streamed completion as the router sends them. Ending iteration early
    /// (dropping the iterator) tells the router to stop, which cancels the upstream request.
    func stream(_ call: RouterChatCall, correlationID: String) throws(APIError) -> ReplyStream {
        do {
            return try bus.requestStream(
                Subject.service(.router, RouterVerb.chatStream), payload: JSONCoding.encode(call),
                headers: [BusHeader.correlationID: correlationID], timeout: timeout)
        } catch {
            throw Self.apiError(error)
        }
    }

    /// Interest in the `usage.recorded` the router publishes for the call `requestID`: made
    /// before the call is stopped, so the event is not missed.
    func awaitUsage(tenant: UUID, requestID: String) throws -> AwaitedMessage {
        try AwaitedMessage(bus: bus, subject: Subject.event(tenant: tenant, type: UsageRecorded.eventType)) { message in
            (try? JSONCoding.decode(Envelope<UsageRecorded>.self, from: message.payload))?.payload.requestID == requestID
        }
    }

    private func request(_ verb: String, _ call: some Encodable, correlationID: String, timeout: Duration? = nil) async throws(APIError) -> Reply {
        do {
            let message = try await bus.request(
                Subject.service(.router, verb), payload: JSONCoding.encode(call),
                headers: [BusHeader.correlationID: correlationID], timeout: timeout ?? self.timeout)
            return Reply(
                payload: message.payload, deployment: message.headers[RouterHeader.deployment],
                costMicros: message.headers[RouterHeader.costMicros].flatMap(Int64.init),
                totalTokens: message.headers[RouterHeader.totalTokens].flatMap(Int.init))
        } catch {
            throw Self.apiError(error)
        }
    }

    /// What a caller is told when the router could not answer.
    static func apiError(_ error: any Error) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case BusError.remote(let fault):
            return apiError(fault)
        case BusError.timedOut:
            return APIError(.timeout, "The model did not answer in time.", code: "timeout", status: .gatewayTimeout)
        case BusError.noResponders:
            return APIError(.serviceUnavailable, "No router is available to serve the request; please retry.", code: "router_unavailable",
                            headers: [.retryAfter: "1"])
        default:
            return APIError(.serviceUnavailable, "The model service could not be reached; please retry.", code: "router_unavailable",
                            headers: [.retryAfter: "1"])
        }
    }

    static func apiError(_ fault: ServiceFault) -> APIError {
        switch fault.code {
        case "model_not_found":
            return APIError(.invalidRequest, fault.message, code: fault.code, param: fault.param, status: .notFound)
        case "invalid_value", "invalid_request", "unsupported_model", "context_length_exceeded":
            return APIError(.invalidRequest, fault.message, code: fault.code, param: fault.param)
        case "rate_limited":
            return APIError(.rateLimit, fault.message, code: fault.code, headers: [.retryAfter: "1"])
        case "deadline_exceeded":
            return APIError(.timeout, "The model did not answer in time.", code: "timeout", status: .gatewayTimeout)
        case "upstream_unavailable", "upstream_error":
            return APIError(.server, fault.message, code: fault.code, status: .badGateway)
        case "routing_unavailable":
            return APIError(.serviceUnavailable, fault.message, code: fault.code, headers: [.retryAfter: "1"])
        default:
            return APIError(.serviceUnavailable, "The model service could not answer; please retry.", code: fault.code,
                            headers: [.retryAfter: "1"])
        }
    }
}
