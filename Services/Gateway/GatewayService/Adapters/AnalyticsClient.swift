import Contracts
import Foundation
import SwitchyardBus

/// The analytics service's bus interface as the gateway calls it: its answers (a JSON report,
/// an HTML page) are passed on as they come.
struct AnalyticsClient: Sendable {
    let client: ServiceClient

    init(bus: Bus) {
        client = ServiceClient(
            bus: bus, service: .analytics, resource: "analytics",
            unavailable: APIError(.serviceUnavailable, "Analytics cannot be read right now; please retry.", code: "analytics_unavailable",
                                  headers: [.retryAfter: "1"]))
    }

    func answer(_ verb: String, _ call: some Encodable, correlationID: String) async throws(APIError) -> Data {
        try await client.exchange(verb, call, correlationID: correlationID).payload
    }
}
