import Contracts
import Foundation
import SwitchyardBus

/// The orchestrator's bus interface as the gateway calls it.
struct OrchestratorClient: Sendable {
    let client: ServiceClient

    init(bus: Bus) {
        client = ServiceClient(
            bus: bus, service: .orchestrator, resource: "workflow",
            unavailable: APIError(.serviceUnavailable, "Workflows cannot be reached right now; please retry.", code: "workflows_unavailable",
                                  headers: [.retryAfter: "1"]))
    }

    func request<Answer: Decodable>(_ verb: String, _ call: some Encodable, correlationID: String) async throws(APIError) -> Answer {
        try await client.request(verb, call, correlationID: correlationID)
    }
}
