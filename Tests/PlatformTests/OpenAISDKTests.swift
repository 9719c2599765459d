import Contracts
import Foundation
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
}
