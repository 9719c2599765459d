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
                let log = FileManager.default.temporaryDirectory.appendingPathComponent("openai-sdk-\(UUID().uuidString).log")
                defer { try? FileManager.default.removeItem(at: log) }
                let process = Process()
                process.executableURL = URL(fileURLWithPath: python)
                process.arguments = [TestEnvironment.root.appendingPathComponent("Tests/Fixtures/python/openai_sdk_check.py").path]
                process.environment = [
                    "SWITCHYARD_BASE_URL": gateway.url + "/v1", "SWITCHYARD_API_KEY": key,
                    "SWITCHYARD_LIMITED_KEY": limited.secret, "PATH": "/usr/bin:/bin",
                ]
                FileManager.default.createFile(atPath: log.path, contents: nil)
                let output = try FileHandle(forWritingTo: log)
                process.standardOutput = output
                process.standardError = output
                try process.run()
                await withCheckedContinuation { continuation in
                    DispatchQueue.global().async {
                        process.waitUntilExit()
                        continuation.resume()
                    }
                }
                try output.close()
                let report = try String(contentsOf: log, encoding: .utf8)
                #expect(process.terminationStatus == 0, "\(report)")
                #expect(report.contains("all checks passed"), "\(report)")
            }
        }
    }
}
