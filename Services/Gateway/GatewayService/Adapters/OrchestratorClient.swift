import Contracts
import Foundation
import SwitchyardBus

/// The orchestrator's bus interface as the gateway calls it, with its faults as the API's errors.
struct OrchestratorClient: Sendable {
    let bus: Bus

    func request<Answer: Decodable>(_ verb: String, _ call: some Encodable, correlationID: String) async throws(APIError) -> Answer {
        let reply: NATSMessage
        do {
            reply = try await bus.request(
                Subject.service(.orchestrator, verb), payload: JSONCoding.encode(call),
                headers: [BusHeader.correlationID: correlationID], timeout: .seconds(10))
        } catch BusError.remote(let fault) where fault.code == "not_found" {
            throw .notFound(fault.param ?? "workflow")
        } catch BusError.remote(let fault) where fault.code == "invalid_value" {
            throw APIError.invalid(fault.param ?? "body", fault.message)
        } catch BusError.remote(let fault) where fault.code == "invalid_state" {
            throw APIError(.invalidRequest, fault.message, code: fault.code, status: .conflict)
        } catch {
            throw Self.unavailable
        }
        guard let answer = try? JSONCoding.decode(Answer.self, from: reply.payload) else { throw Self.unavailable }
        return answer
    }

    private static let unavailable = APIError(
        .serviceUnavailable, "Workflows cannot be reached right now; please retry.", code: "workflows_unavailable", headers: [.retryAfter: "1"])
}
