import Contracts
import Foundation
import GatewayService
import NIOHTTP1
import RouterService
import SwitchyardDatabase
import Testing

/// A tenant's routing overrides through the admin API: stored in PostgreSQL, checked against
/// the router's catalog, applied by the router to that tenant's calls only.
@Suite struct GatewayRoutingTests {
    /// A model served in two regions: `us` first and dearer, `eu` second and cheaper.
    static let catalog = try! CatalogFile.parse("""
        models:
          regional-chat:
            deployments:
              - {name: us/regional-chat, provider: local, upstream_model: local-chat,
                 price: {input_micros_per_million: 3000000, output_micros_per_million: 3000000}, context_window: 4096, capabilities: [chat, streaming]}
              - {name: eu/regional-chat, provider: local, upstream_model: local-chat,
                 price: {input_micros_per_million: 1000000, output_micros_per_million: 1000000}, context_window: 4096, capabilities: [chat, streaming]}
        """, file: "routing test catalog")

    static func routing(_ gateway: GatewayUnderTest, _ tenant: UUID, _ model: String = "regional-chat") -> String {
        gateway.url + "/admin/tenants/\(tenant)/routing/\(model)"
    }

    /// The deployment that answered one chat call of `key`.
    static func answeringDeployment(_ gateway: GatewayUnderTest, key: String) async throws -> String? {
        let answer = try await send(.POST, gateway.url + "/v1/chat/completions", key: key, json: chatJSON(model: "regional-chat", maxTokens: 4))
        #expect(answer.status == 200, "\(answer.text)")
        return answer.headers.first(name: "x-switchyard-deployment")
    }

    static func inputPrice(_ gateway: GatewayUnderTest, key: String) async throws -> Int64? {
        let models = try await send(.GET, gateway.url + "/v1/models", key: key).decode(ModelList.self)
        return models.data.first { $0.id == "regional-chat" }?.pricing?.inputMicrosPerMillion
    }

    @Test func anOverrideRoutesItsTenantsCallsOnlyUntilItIsRemoved() async throws {
        try await withDatabase { database in
            let (tenant, owner) = try await makeTenantWithKey(database, role: .owner)
            let (_, neighbour) = try await makeTenantWithKey(database)
            try await withGateway(tenant: tenant, catalog: Self.catalog) { gateway in
                #expect(try await Self.answeringDeployment(gateway, key: owner) == "us/regional-chat")
                #expect(try await Self.inputPrice(gateway, key: owner) == 3_000_000, "reserved at the dearest deployment")

                let set = try await send(.PUT, Self.routing(gateway, tenant), key: owner, json: #"{"deployments":[{"name":"eu/regional-chat"}]}"#)
                #expect(set.status == 201, "\(set.text)")
                let stored = try set.decode(RoutingOverride.self)
                #expect(stored.model == "regional-chat" && stored.deployments == [DeploymentChoice(name: "eu/regional-chat")])
                #expect(stored.strategy == nil && stored.updatedAt != nil)

                let routedToEU = try await eventually(timeout: .seconds(5)) {
                    try await Self.answeringDeployment(gateway, key: owner) == "eu/regional-chat"
                }
                #expect(routedToEU, "the tenant's calls go to the deployment it chose")
                for _ in 0..<5 { #expect(try await Self.answeringDeployment(gateway, key: owner) == "eu/regional-chat") }
                #expect(try await Self.answeringDeployment(gateway, key: neighbour) == "us/regional-chat", "another tenant keeps the catalog's routing")
                #expect(try await Self.inputPrice(gateway, key: owner) == 1_000_000, "the price is that of the deployments that may answer")

                let changed = try await send(.PUT, Self.routing(gateway, tenant), key: owner,
                                             json: #"{"strategy":"lowest_cost","deployments":[{"name":"us/regional-chat"},{"name":"eu/regional-chat"}]}"#)
                #expect(changed.status == 200, "a change of an override is not a creation")
                let listed = try await send(.GET, gateway.url + "/admin/tenants/\(tenant)/routing", key: owner).decode(ListOf<RoutingOverride>.self)
                #expect(listed.data.map(\.strategy) == ["lowest_cost"])
                #expect(listed.data.first?.deployments?.map(\.name) == ["us/regional-chat", "eu/regional-chat"])

                let removed = try await send(.DELETE, Self.routing(gateway, tenant), key: owner)
                #expect(removed.status == 200)
                let routedBack = try await eventually(timeout: .seconds(5)) {
                    try await Self.answeringDeployment(gateway, key: owner) == "us/regional-chat"
                }
                #expect(routedBack, "removing the override puts the catalog's routing back")
                #expect(try await send(.GET, Self.routing(gateway, tenant), key: owner).status == 404)
                #expect(try await send(.DELETE, Self.routing(gateway, tenant), key: owner).status == 404)

                let audit = try await send(.GET, gateway.url + "/admin/tenants/\(tenant)/audit", key: owner).decode(ListOf<AuditEntryInfo>.self)
                #expect(audit.data.map(\.action) == ["routing.set", "routing.set", "routing.remove"])
            }
        }
    }

    @Test func anOverrideTheCatalogCannotRouteIsRefusedNamingTheFieldAndNothingIsStored() async throws {
        try await withDatabase { database in
            let (tenant, owner) = try await makeTenantWithKey(database, role: .owner)
            try await withGateway(tenant: tenant, catalog: Self.catalog) { gateway in
                let cases: [(model: String, body: String, field: String)] = [
                    ("regional-chat", #"{"deployments":[{"name":"eu/regional-chat"},{"name":"ap/regional-chat"}]}"#, "deployments[1].name"),
                    ("regional-chat", #"{"strategy":"fastest"}"#, "strategy"),
                    ("regional-chat", #"{}"#, "strategy"),
                    ("regional-chat", #"{"strategy":"weighted","deployments":[{"name":"eu/regional-chat","weight":0}]}"#, "deployments"),
                    ("regional-chat", #"{"deployments":[{"name":"eu/regional-chat","weight":2},{"name":"us/regional-chat"}]}"#, "deployments[0].weight"),
                    ("no-such-model", #"{"strategy":"priority"}"#, "model"),
                ]
                for (model, body, field) in cases {
                    let refused = try await send(.PUT, Self.routing(gateway, tenant, model), key: owner, json: body)
                    #expect(refused.status == 400, "\(body): \(refused.text)")
                    #expect(refused.error?.param == field, "\(body): \(refused.text)")
                }
                let malformed = try await send(.PUT, Self.routing(gateway, tenant), key: owner, json: #"{"deployments":"eu"}"#)
                #expect(malformed.status == 400)
                let listed = try await send(.GET, gateway.url + "/admin/tenants/\(tenant)/routing", key: owner).decode(ListOf<RoutingOverride>.self)
                #expect(listed.data.isEmpty)
            }
        }
    }

    @Test func onlyTheTenantsOwnersAndAdminsSeeAndSetItsRouting() async throws {
        try await withDatabase { database in
            let (tenant, owner) = try await makeTenantWithKey(database, role: .owner)
            let developer = try await makeKey(database, tenant: tenant, role: .developer)
            let (_, strangerOwner) = try await makeTenantWithKey(database, role: .owner)
            try await withGateway(tenant: tenant, catalog: Self.catalog) { gateway in
                let body = #"{"deployments":[{"name":"eu/regional-chat"}]}"#
                #expect(try await send(.PUT, Self.routing(gateway, tenant), key: owner, json: body).status == 201)

                let byDeveloper = try await send(.PUT, Self.routing(gateway, tenant), key: developer.secret, json: body)
                #expect(byDeveloper.status == 403)
                #expect(try await send(.GET, gateway.url + "/admin/tenants/\(tenant)/routing", key: developer.secret).status == 403)
                // Another tenant's routing does not exist for a stranger.
                #expect(try await send(.GET, Self.routing(gateway, tenant), key: strangerOwner).status == 404)
                #expect(try await send(.DELETE, Self.routing(gateway, tenant), key: strangerOwner).status == 404)
                #expect(try await send(.GET, Self.routing(gateway, tenant), key: owner).status == 200, "the stranger changed nothing")
            }
        }
    }

    @Test func anOverrideWhoseDeploymentsTheCatalogDroppedAnswers503RatherThanRouteElsewhere() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("routing-catalog"))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("catalog.yaml")
        try writeLocalCatalog(["first"], to: file)
        try await withDatabase { database in
            let (tenant, owner) = try await makeTenantWithKey(database, role: .owner)
            let store = try CatalogStore(path: file.path)
            let config = GatewayConfig(port: 0, adminToken: .init(GatewayAdminTests.adminToken))
            try await withGateway(tenant: tenant, catalogStore: store, config: config) { gateway in
                let set = try await send(.PUT, Self.routing(gateway, tenant, "first"), key: owner, json: #"{"deployments":[{"name":"local/first"}]}"#)
                #expect(set.status == 201, "\(set.text)")
                // The operator renames the deployment the override named.
                let renamed = try String(contentsOf: file, encoding: .utf8).replacingOccurrences(of: "name: local/first", with: "name: local/first-v2")
                try renamed.write(to: file, atomically: true, encoding: .utf8)
                try store.reload()

                let call = try await send(.POST, gateway.url + "/v1/chat/completions", key: owner, json: chatJSON(model: "first", maxTokens: 4))
                #expect(call.status == 503, "\(call.text)")
                #expect(call.error?.code == "routing_unavailable")
                let models = try await send(.GET, gateway.url + "/v1/models", key: owner).decode(ModelList.self)
                #expect(!models.data.contains { $0.id == "first" }, "a model the tenant cannot be routed to is not listed")
            }
        }
    }
}

@Suite struct RoutingCLITests {
    @Test func theCLISetsListsAndRemovesATenantsRoutingCheckedByARouter() async throws {
        let (server, nats) = try await PrivateNATSServer.started()
        defer {
            nats.kill()
            try? FileManager.default.removeItem(at: server.directory)
        }
        try await withDatabase { database in
            let tenant = try await makeTenant(database)
            let catalogs = TenantCatalogs(store: CatalogStore(GatewayRoutingTests.catalog, path: "(test catalog)"), database: database)
            try await withBus(url: server.url) { bus in
                let router = RouterApp.responders(bus: bus, catalogs: catalogs, httpClient: .shared, logger: TestEnvironment.logger)
                try await withRunning(router) {
                    try await awaitResponder(bus, Subject.service(.router, RouterVerb.checkRouting))
                    let environment = ["NATS_URL": server.url]
                    let id = Subject.token(tenant)
                    let set = try await CLI.run(["routing", "set", "--tenant", id, "--strategy", "weighted",
                                                 "--deployments", "eu/regional-chat=9,us/regional-chat=1", "regional-chat"], environment: environment)
                    #expect(set.contains("set regional-chat  weighted  eu/regional-chat=9,us/regional-chat=1"), "\(set)")
                    let listed = try await CLI.run(["routing", "list", "--tenant", id], environment: environment)
                    #expect(listed.contains("regional-chat  weighted  eu/regional-chat=9,us/regional-chat=1"), "\(listed)")

                    await #expect {
                        try await CLI.run(["routing", "set", "--tenant", id, "--deployments", "ap/regional-chat", "regional-chat"], environment: environment)
                    } throws: { error in
                        (error as? CLI.Failed)?.output.contains("deployments[0].name") == true
                    }
                    #expect(try await CLI.run(["routing", "remove", "--tenant", id, "regional-chat"], environment: environment).contains("removed regional-chat"))
                    #expect(try await CLI.run(["routing", "list", "--tenant", id], environment: environment).trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
                }
            }
        }
    }
}
