import Contracts
import Foundation
import Testing

/// The gateway's Prometheus metrics, scraped from a gateway process with its own router on a
/// NATS server of the test's own (on the shared one, another test's router, serving another
/// catalog, could take the calls): the figures on-call reads when callers complain.
@Suite struct GatewayMetricsTests {
    @Test func requestsRefusalsAndAuthenticationFailuresAreCountedByRouteStatusAndReason() async throws {
        try await withDatabase { database in
            let (_, key) = try await makeTenantWithKey(database, limits: QuotaLimits(requestsPerMinute: 1))
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gateway-metrics-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let (gatewayPort, opsPort) = (freePort(), freePort())
            let (nats, natsProcess) = try await PrivateNATSServer.started()
            let router = try ChildProcess("router", environment: [
                "SWITCHYARD_ROUTER_OPS_PORT": String(freePort()), "SWITCHYARD_LOG_LEVEL": "error", "NATS_URL": nats.url,
            ], log: directory.appendingPathComponent("router.log"))
            let gateway = try ChildProcess("gateway", environment: [
                "SWITCHYARD_GATEWAY_PORT": String(gatewayPort), "SWITCHYARD_GATEWAY_OPS_PORT": String(opsPort), "SWITCHYARD_LOG_LEVEL": "error",
                "NATS_URL": nats.url,
            ], log: directory.appendingPathComponent("gateway.log"))
            defer {
                gateway.kill()
                router.kill()
                natsProcess.kill()
                try? FileManager.default.removeItem(at: nats.directory)
            }
            let url = "http://127.0.0.1:\(gatewayPort)"
            #expect(try await eventually(timeout: .seconds(30)) { (try? await send(.GET, url + "/v1/models", key: key))?.status == 200 })

            #expect(try await send(.POST, url + "/v1/chat/completions", key: key, json: chatJSON(maxTokens: 2)).status == 200)
            #expect(try await send(.POST, url + "/v1/chat/completions", key: key, json: chatJSON(maxTokens: 2)).status == 429)
            #expect(try await send(.GET, url + "/v1/models", key: "sk-sy-" + String(repeating: "A", count: 53)).status == 401)

            let scraped = try await send(.GET, "http://127.0.0.1:\(opsPort)/metrics")
            let lines = scraped.text.split(separator: "\n").map(String.init)
            func value(_ name: String, _ labels: [String]) -> Double? {
                lines.first { $0.hasPrefix(name + "{") && labels.allSatisfy($0.contains) }
                    .flatMap { $0.split(separator: " ").last }.flatMap { Double($0) }
            }
            let chatRoute = [#"route="/v1/chat/completions""#, #"method="POST""#]
            #expect(value("switchyard_gateway_request_duration_seconds_count", chatRoute + [#"status="200""#]) == 1, "\(scraped.text)")
            #expect(value("switchyard_gateway_request_duration_seconds_count", chatRoute + [#"status="429""#]) == 1)
            #expect(value("switchyard_gateway_quota_refusals_total", [#"limit="requests_per_minute""#, #"scope="key""#]) == 1)
            #expect(value("switchyard_gateway_authentication_failures_total", [#"reason="unknown""#]) == 1)
            #expect(value("switchyard_gateway_request_duration_seconds_bucket", chatRoute + [#"status="200""#, #"le="+Inf""#]) == 1)
            // The call's quota settlement, made after its answer, has ended.
            let settled = try await eventually(timeout: .seconds(5)) {
                let text = try await send(.GET, "http://127.0.0.1:\(opsPort)/metrics").text
                return text.contains(#"switchyard_work_under_way{work="quota_settlements"} 0"#)
            }
            #expect(settled, "\(scraped.text)")
        }
    }
}
