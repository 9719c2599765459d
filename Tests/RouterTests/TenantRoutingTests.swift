import Contracts
import Foundation
import RouterService
import Synchronization
import Testing

/// A tenant's routing override: checked against the catalog, applied to the model, and each
/// tenant's overrides read once and kept until they change.
@Suite struct TenantRoutingTests {
    static let catalog = try! CatalogFile.parse("""
        models:
          chat:
            strategy: priority
            deployments:
              - {name: us/chat, provider: local, upstream_model: local-chat, price: {input_micros_per_million: 3, output_micros_per_million: 3},
                 context_window: 4096, capabilities: [chat, streaming], weight: 9}
              - {name: eu/chat, provider: local, upstream_model: local-chat, price: {input_micros_per_million: 2, output_micros_per_million: 2},
                 context_window: 4096, capabilities: [chat], weight: 1}
              - {name: ap/chat, provider: local, upstream_model: local-chat, price: {input_micros_per_million: 1, output_micros_per_million: 1},
                 context_window: 4096, capabilities: [chat], weight: 1}
        """, file: "routing test catalog")

    static func override(strategy: String? = nil, _ deployments: [(String, Int?)]? = nil) -> RoutingOverride {
        RoutingOverride(model: "chat", strategy: strategy, deployments: deployments?.map { DeploymentChoice(name: $0.0, weight: $0.1) })
    }

    /// The field a refused override is refused for.
    static func refusedField(_ override: RoutingOverride) -> String? {
        do {
            _ = try catalog.check(override)
            return nil
        } catch {
            return error.param
        }
    }

    // MARK: Checking

    @Test func anOverrideTheCatalogCanRouteIsAcceptedAsGiven() throws {
        let given = Self.override(strategy: "weighted", [("eu/chat", 3), ("ap/chat", 1)])
        #expect(try Self.catalog.check(given) == given)
        #expect(try Self.catalog.check(Self.override(strategy: "lowest_cost")) == Self.override(strategy: "lowest_cost"))
    }

    @Test func aRefusedOverrideNamesItsField() {
        #expect(Self.refusedField(RoutingOverride(model: "nope", strategy: "priority")) == "model")
        #expect(Self.refusedField(Self.override()) == "strategy", "neither part set")
        #expect(Self.refusedField(Self.override(strategy: "fastest")) == "strategy")
        #expect(Self.refusedField(Self.override([])) == "deployments")
        #expect(Self.refusedField(Self.override([("eu/chat", nil), ("local/chat", nil)])) == "deployments[1].name", "not the model's")
        #expect(Self.refusedField(Self.override([("eu/chat", nil), ("eu/chat", nil)])) == "deployments[1].name", "named twice")
        #expect(Self.refusedField(Self.override([("eu/chat", 5), ("ap/chat", nil)])) == "deployments[0].weight", "weights for some only")
        #expect(Self.refusedField(Self.override([("eu/chat", -1)])) == "deployments[0].weight")
        #expect(Self.refusedField(Self.override(strategy: "weighted", [("eu/chat", 0), ("ap/chat", 0)])) == "deployments")
    }

    @Test func theModelIsRoutedToTheOverridesDeploymentsInItsOrder() throws {
        let entry = try #require(Self.catalog.model("chat"))
        let routed = try #require(entry.routed(by: Self.override(strategy: "weighted", [("ap/chat", 5), ("us/chat", 95)])))
        #expect(routed.strategy == .weighted)
        #expect(routed.deployments.map(\.name) == ["ap/chat", "us/chat"])
        #expect(routed.deployments.map(\.weight) == [5, 95])
        // Without weights, the catalog's; without deployments, all of them in catalog order.
        #expect(entry.routed(by: Self.override([("eu/chat", nil)]))?.deployments.map(\.weight) == [1])
        #expect(entry.routed(by: Self.override(strategy: "bandit"))?.deployments.map(\.name) == ["us/chat", "eu/chat", "ap/chat"])
        #expect(entry.routed(by: nil) == entry)
    }

    @Test func aDeploymentTheCatalogDroppedIsLeftOutAndNoneLeftRoutesNowhere() throws {
        let entry = try #require(Self.catalog.model("chat"))
        #expect(entry.routed(by: Self.override([("gone/chat", nil), ("eu/chat", nil)]))?.deployments.map(\.name) == ["eu/chat"])
        #expect(entry.routed(by: Self.override([("gone/chat", nil)])) == nil)
    }

    // MARK: Each tenant's catalog

    /// Counts the reads of overrides and answers what `overrides` holds, or fails when `failing`.
    final class OverrideSource: Sendable {
        let state = Mutex<(reads: Int, overrides: [RoutingOverride], failing: Bool)>((0, [], false))
        var reads: Int { state.withLock { $0.reads } }
        func set(_ overrides: [RoutingOverride]) { state.withLock { $0.overrides = overrides } }
        func fail(_ failing: Bool) { state.withLock { $0.failing = failing } }

        func load(_ tenant: UUID) async throws -> [RoutingOverride] {
            try await Task.sleep(for: .milliseconds(20))
            return try state.withLock { state in
                state.reads += 1
                if state.failing { throw CancellationError() }
                return state.overrides
            }
        }
    }

    static func catalogs(_ source: OverrideSource, timeToLive: Duration = .seconds(60)) -> TenantCatalogs {
        TenantCatalogs(store: CatalogStore(catalog, path: "(test)"), timeToLive: timeToLive) { tenant in
            TenantRouting(overrides: try await source.load(tenant), prices: .empty)
        }
    }

    @Test func aTenantsOverridesAreReadOnceForManyCallsAndAgainWhenForgotten() async throws {
        let source = OverrideSource()
        source.set([Self.override([("eu/chat", nil)])])
        let catalogs = Self.catalogs(source)
        let tenant = UUID()
        try await withThrowingTaskGroup { group in
            for _ in 0..<20 { group.addTask { _ = try await catalogs.model("chat", tenant: tenant) } }
            try await group.waitForAll()
        }
        #expect(source.reads == 1, "concurrent first calls share one read")
        #expect(try await catalogs.model("chat", tenant: tenant).deployments.map(\.name) == ["eu/chat"])
        #expect(try await catalogs.model("chat", tenant: UUID()).deployments.map(\.name) == ["eu/chat"], "the source answers every tenant alike")

        source.set([])
        catalogs.forget(tenant)
        #expect(try await catalogs.model("chat", tenant: tenant).deployments.count == 3)
        #expect(source.reads == 3)
    }

    @Test func expiredOverridesServeOnWhileTheyAreReadAgainInTheBackground() async throws {
        let source = OverrideSource()
        source.set([Self.override([("us/chat", nil)])])
        let catalogs = Self.catalogs(source, timeToLive: .milliseconds(1))
        let tenant = UUID()
        #expect(try await catalogs.model("chat", tenant: tenant).deployments.map(\.name) == ["us/chat"])
        source.set([Self.override([("eu/chat", nil)])])
        try await Task.sleep(for: .milliseconds(5))
        // The read takes 20 ms: the call that finds the copy expired does not wait for it.
        #expect(try await catalogs.model("chat", tenant: tenant).deployments.map(\.name) == ["us/chat"])
        var refreshed = false
        for _ in 0..<100 where !refreshed {
            try await Task.sleep(for: .milliseconds(10))
            refreshed = try await catalogs.model("chat", tenant: tenant).deployments.map(\.name) == ["eu/chat"]
        }
        #expect(refreshed, "the background read put the new overrides in force")
    }

    @Test func overridesThatCannotBeReadServeTheCopyHeldOrRouteNowhere() async throws {
        let source = OverrideSource()
        source.set([Self.override([("ap/chat", nil)])])
        let catalogs = Self.catalogs(source, timeToLive: .milliseconds(1))
        let tenant = UUID()
        #expect(try await catalogs.model("chat", tenant: tenant).deployments.map(\.name) == ["ap/chat"])

        source.fail(true)
        try await Task.sleep(for: .milliseconds(5))
        #expect(try await catalogs.model("chat", tenant: tenant).deployments.map(\.name) == ["ap/chat"], "the copy held serves on")

        let error = await #expect(throws: ServiceFault.self) { try await catalogs.model("chat", tenant: UUID()) }
        #expect(error?.code == "routing_unavailable", "a tenant never read is not routed past overrides it may have")
        let unknown = await #expect(throws: ServiceFault.self) { try await catalogs.model("nope", tenant: tenant) }
        #expect(unknown?.code == "model_not_found")
    }
}
