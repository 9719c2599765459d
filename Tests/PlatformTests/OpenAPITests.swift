import Contracts
import Foundation
@testable import GatewayService
import SwitchyardBus
import Testing

/// The OpenAPI document (`Services/Gateway/GatewayService/Resources/openapi.yaml`, served at
/// `/openapi.json`) against the gateway itself.
@Suite struct OpenAPITests {
    @Test func theDocumentDescribesExactlyTheRoutesTheGatewayServes() async throws {
        try await withDatabase { database in
            try await withBus { bus in
                let gateway = Gateway(config: GatewayConfig(port: 0), database: database, bus: bus, redis: nil, logger: TestEnvironment.logger)
                let served = Set(try gateway.router().routes.map { "\($0.method.rawValue) \($0.path.description)" })
                let documented = try OpenAPIDocument.operations()
                #expect(served.subtracting(documented).isEmpty, "served but not documented: \(served.subtracting(documented).sorted())")
                #expect(documented.subtracting(served).isEmpty, "documented but not served: \(documented.subtracting(served).sorted())")
            }
        }
    }

    @Test func aMethodAPathDoesNotTakeIsA405NamingTheOnesItDoes() async throws {
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database, role: .owner)
            try await withGateway(tenant: tenant) { gateway in
                let document = try await send(.GET, gateway.url + "/openapi.json")
                #expect(document.status == 200)
                let parsed = try JSONSerialization.jsonObject(with: document.body) as? [String: Any]
                #expect(parsed?["openapi"] as? String == "3.1.0")

                let patch = try await send(.PATCH, gateway.url + "/v1/models", key: key)
                #expect(patch.status == 405 && patch.headers.first(name: "allow") == "GET")
                let keys = try await send(.PUT, gateway.url + "/admin/tenants/\(tenant)/api-keys", key: key)
                #expect(keys.status == 405 && keys.headers.first(name: "allow") == "GET, POST")
                #expect(try await send(.GET, gateway.url + "/v1/nothing-here", key: key).status == 404)
            }
        }
    }

    /// schemathesis (from PyPI, in .build/python-tools) generates requests from the document,
    /// valid and invalid, and checks every answer: no server error, every status, content type,
    /// header and body as documented, invalid input refused, authentication enforced.
    /// `positive_data_acceptance` is left out: a request the schema allows can still be refused
    /// for what only the catalog knows (a chat call to an embeddings model is a 400, as at OpenAI).
    @Test func schemathesisFindsNoServerErrorAndNoAnswerThatBreaksTheDocument() async throws {
        let python = URL(fileURLWithPath: TestEnvironment.require("SWITCHYARD_TEST_PYTHON"))
        let schemathesis = python.deletingLastPathComponent().appendingPathComponent("schemathesis")
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database, role: .owner)
            let spare = try await makeKey(database, tenant: tenant, role: .viewer)
            try await withGateway(tenant: tenant) { gateway in
                let services = billingServices(gateway, tenant: tenant) + analyticsServices(gateway, tenant: tenant)
                    + ingestionServices(gateway, tenant: tenant) + orchestratorServices(gateway, tenant: tenant)
                try await withServiceGroup(services) {
                    let report = try await runProcess(schemathesis, arguments: [
                        "--config-file", TestEnvironment.root.appendingPathComponent("Tests/Fixtures/python/schemathesis.toml").path,
                        "run", gateway.url + "/openapi.json",
                        "--header", "Authorization: Bearer \(key)",
                        "--checks", "all", "--exclude-checks", "positive_data_acceptance",
                        "--phases", "examples,coverage,fuzzing", "--max-examples", "30", "--workers", "1",
                        // One fixed draw: the same requests every run, so a failure can be replayed.
                        "--seed", "59593809593369760751258002719437761473",
                    ], environment: [
                        "SCHEMATHESIS_TENANT": tenant.uuidString.lowercased(), "SCHEMATHESIS_SPARE_KEY": spare.id.uuidString.lowercased(),
                        "PATH": "/usr/bin:/bin", "HOME": FileManager.default.temporaryDirectory.path,
                    ])
                    #expect(report.status == 0, "\(report.output)")
                    #expect(report.output.contains("Test cases:"), "\(report.output)")
                }
            }
        }
    }
}
