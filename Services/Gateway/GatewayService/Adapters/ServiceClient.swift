import Contracts
import Foundation
import SwitchyardBus

/// A service's verbs as the gateway calls them: a JSON call on `svc.<service>.<verb>`, a JSON
/// answer, and the service's faults as the API's errors, the same way for every service.
struct ServiceClient: Sendable {
    let bus: Bus
    let service: ServiceName
    var timeout: Duration = .seconds(10)
    /// What a `not_found` fault names when it names nothing (`invoice`, `document`…).
    let resource: String
    /// What the caller is told when the service cannot answer.
    let unavailable: APIError
    /// Faults that say the service cannot do it now, for a reason worth the caller's reading:
    /// 503 with the service's own words.
    var unavailableWithReason: Set<String> = []

    func request<Answer: Decodable>(_ verb: String, _ call: some Encodable, correlationID: String) async throws(APIError) -> Answer {
        try decode(try await exchange(verb, call, correlationID: correlationID))
    }

    /// The reply as it came, headers and all.
    func exchange(_ verb: String, _ call: some Encodable, correlationID: String) async throws(APIError) -> NATSMessage {
        do {
            return try await bus.request(
                Subject.service(service, verb), payload: JSONCoding.encode(call),
                headers: [BusHeader.correlationID: correlationID], timeout: timeout)
        } catch BusError.remote(let fault) {
            throw apiError(fault)
        } catch {
            throw unavailable
        }
    }

    func decode<Answer: Decodable>(_ reply: NATSMessage) throws(APIError) -> Answer {
        guard let answer = try? JSONCoding.decode(Answer.self, from: reply.payload) else { throw unavailable }
        return answer
    }

    func apiError(_ fault: ServiceFault) -> APIError {
        switch fault.code {
        case "not_found":
            return .notFound(fault.param ?? resource)
        case "invalid_value":
            return .invalid(fault.param ?? "body", fault.message)
        case "invalid_state":
            return APIError(.invalidRequest, fault.message, code: fault.code, param: fault.param, status: .conflict)
        case "too_large":
            return APIError(.invalidRequest, fault.message, code: "\(resource)_too_large", param: fault.param, status: .contentTooLarge)
        case let code where unavailableWithReason.contains(code):
            return APIError(.serviceUnavailable, fault.message, code: code, headers: [.retryAfter: "1"])
        default:
            return unavailable
        }
    }
}
