import Contracts
import Foundation
import RouterService
import Testing

/// The official OpenAI Python SDK (from PyPI, installed by `make test` into .build/python-tools)
/// against the gateway, unmodified: see Tests/Fixtures/python/openai_sdk_check.py.
@Suite struct OpenAISDKTests {
    @Test func theOfficialPythonSDKChatsStreamsEmbedsAndRaisesItsOwnErrors() async throws {
        let python = TestEnvironment.require("SWITCHYARD_TEST_PYTHON")
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database)
            let limited = try await makeKey(database, tenant: tenant, limits: QuotaLimits(requestsPerMinute: 1))
            try await withGateway(tenant: tenant) { gateway in
                let report = try await runProcess(
                    URL(fileURLWithPath: python),
                    arguments: [TestEnvironment.root.appendingPathComponent("Tests/Fixtures/python/openai_sdk_check.py").path],
                    environment: [
                        "SWITCHYARD_BASE_URL": gateway.url + "/v1", "SWITCHYARD_API_KEY": key,
                        "SWITCHYARD_LIMITED_KEY": limited.secret, "PATH": "/usr/bin:/bin",
                    ])
                #expect(report.status == 0, "\(report.output)")
                #expect(report.output.contains("all checks passed"), "\(report.output)")
            }
        }
    }

    @Test func theOfficialPythonSDKCallsAFunctionThroughTheGateway() async throws {
        let python = TestEnvironment.require("SWITCHYARD_TEST_PYTHON")
        let upstream = FakeOpenAIUpstream(.toolCall(id: "call_7", name: "get_weather", arguments: #"{"city":"Hamburg"}"#))
        let (url, server) = try await upstream.start()
        defer { server.cancel() }
        let catalog = try CatalogFile.parse("""
            models:
              remote-tools:
                deployments:
                  - name: fake/tools
                    provider: openai
                    upstream_model: fake-tools
                    base_url: \(url)
                    price: {input_micros_per_million: 1000000, output_micros_per_million: 2000000}
                    context_window: 8192
                    capabilities: [chat, streaming, tools]
            """, file: "tools catalog")
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database)
            try await withGateway(tenant: tenant, catalog: catalog) { gateway in
                let report = try await runProcess(
                    URL(fileURLWithPath: python),
                    arguments: [TestEnvironment.root.appendingPathComponent("Tests/Fixtures/python/openai_sdk_tools_check.py").path],
                    environment: ["SWITCHYARD_BASE_URL": gateway.url + "/v1", "SWITCHYARD_API_KEY": key, "PATH": "/usr/bin:/bin"])
                #expect(report.status == 0, "\(report.output)")
                #expect(report.output.contains("all checks passed"), "\(report.output)")
                // The tool's result reached the provider as a tool message of the third call.
                let last = try #require(upstream.requests.last?.body)
                #expect(last.messages.last?.role == "tool" && last.messages.last?.toolCallID == "call_7")
            }
        }
    }
}
