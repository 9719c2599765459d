import Contracts
import Foundation
import Synchronization
import SwitchyardDatabase

/// What a tenant has set beside the catalog: its routing overrides, by model, and the prices its
/// calls are charged at.
public struct TenantRouting: Sendable, Equatable {
    public var overrides: [String: RoutingOverride]
    public var prices: PriceSchedule

    public init(overrides: [RoutingOverride], prices: PriceSchedule) {
        self.overrides = Dictionary(overrides.map { ($0.model, $0) }, uniquingKeysWith: { first, _ in first })
        self.prices = prices
    }
}

/// The catalog as each tenant sees it: the catalog in force, with the tenant's routing
/// overrides applied and its calls priced by the price book and its own prices. A tenant's
/// settings are read from PostgreSQL on its first call and kept until a `routing.changed` or
/// `prices.changed` event drops them; after a minute (an event lost to a crash is made
/// up for by the lifetime) they are read again in the background while the copy held serves on,
/// so only a tenant's first call after a start or a change waits for the database. When they
/// cannot be read, the copy held serves on; with no copy the call fails with
/// `routing_unavailable` rather than reach a deployment the tenant may have ruled out.
public final class TenantCatalogs: Sendable {
    let store: CatalogStore
    private let load: @Sendable (UUID) async throws -> TenantRouting
    private let timeToLive: Duration
    private let entries = Mutex<Entries>(Entries())

    /// Overrides and prices from `database`.
    public convenience init(store: CatalogStore, database: Database, timeToLive: Duration = .seconds(60)) {
        self.init(store: store, timeToLive: timeToLive) { tenant in
            try await database.withTenant(tenant) { tx in
                TenantRouting(overrides: try await RoutingOverrideRepository.list(in: tx), prices: try await PriceRepository.schedule(in: tx))
            }
        }
    }

    /// Settings from `load`, which is called once per tenant per `timeToLive` at most.
    public init(store: CatalogStore, timeToLive: Duration, load: @escaping @Sendable (UUID) async throws -> TenantRouting) {
        self.store = store
        self.timeToLive = timeToLive
        self.load = load
    }

    /// The model `name` as `tenant`'s calls are routed, and charged at `time`.
    public func model(_ name: String, tenant: UUID, at time: Date = Date()) async throws(ServiceFault) -> ModelEntry {
        let catalog = store.catalog
        guard let entry = catalog.model(name) else {
            throw ServiceFault(code: "model_not_found", message: "The model `\(name)` does not exist or you do not have access to it.", param: "model")
        }
        let tenantRouting = try await settings(of: tenant)
        guard var routed = entry.routed(by: tenantRouting.overrides[name]) else {
            throw ServiceFault(
                code: "routing_unavailable",
                message: "The tenant's routing of `\(name)` names no deployment the catalog still has; an admin must set it again.")
        }
        routed.charge = tenantRouting.prices.price(of: name, at: time)?.price
        return routed
    }

    /// The tenant's models as `GET /v1/models` lists them.
    func modelList(tenant: UUID, at time: Date = Date()) async throws(ServiceFault) -> ModelList {
        store.modelList(routing: try await settings(of: tenant), at: time)
    }

    /// Reads the tenant's settings again on its next call.
    public func forget(_ tenant: UUID) {
        entries.withLock { entries in
            entries.byTenant[tenant] = nil
        }
    }

    /// Reads every tenant's settings again: the price book changed.
    public func forgetAll() {
        entries.withLock { entries in
            entries.byTenant.removeAll()
        }
    }

    private struct Entries {
        var byTenant: [UUID: Entry] = [:]
        /// Tells a read that finished after `forget` from the one that replaced it.
        var nextRead: UInt64 = 0
    }

    private enum Entry {
        case reading(id: UInt64, Task<TenantRouting, any Error>, stale: TenantRouting?)
        case read(TenantRouting, at: ContinuousClock.Instant)
    }

    /// A failed read is tried again after this long, not on every call.
    private static let retryAfterFailure: Duration = .seconds(5)

    private func settings(of tenant: UUID) async throws(ServiceFault) -> TenantRouting {
        enum Next {
            case serve(TenantRouting)
            /// Serve the copy held; a read of fresh overrides was started in the background.
            case serveAndRefresh(TenantRouting, read: UInt64, Task<TenantRouting, any Error>)
            case await(read: UInt64, Task<TenantRouting, any Error>)
        }
        let now = ContinuousClock.now
        let next = entries.withLock { entries -> Next in
            switch entries.byTenant[tenant] {
            case .read(let overrides, let at) where now - at < timeToLive:
                return .serve(overrides)
            case .reading(_, _, let stale?):
                return .serve(stale)
            case .reading(let id, let task, nil):
                return .await(read: id, task)
            case .read(let overrides, _):
                let (id, task) = start(tenant, stale: overrides, in: &entries)
                return .serveAndRefresh(overrides, read: id, task)
            case nil:
                let (id, task) = start(tenant, stale: nil, in: &entries)
                return .await(read: id, task)
            }
        }
        switch next {
        case .serve(let overrides):
            return overrides
        case .serveAndRefresh(let stale, let id, let task):
            Task { _ = try? await finish(id, task, of: tenant, stale: stale) }
            return stale
        case .await(let id, let task):
            return try await finish(id, task, of: tenant, stale: nil)
        }
    }

    /// Records how the read `id` ended: its overrides, or, when it failed, the copy held for a
    /// few seconds more.
    private func finish(
        _ id: UInt64, _ task: Task<TenantRouting, any Error>, of tenant: UUID, stale: TenantRouting?
    ) async throws(ServiceFault) -> TenantRouting {
        do {
            let overrides = try await task.value
            entries.withLock { entries in
                if case .reading(id, _, _) = entries.byTenant[tenant] { entries.byTenant[tenant] = .read(overrides, at: .now) }
            }
            return overrides
        } catch {
            entries.withLock { entries in
                guard case .reading(id, _, _) = entries.byTenant[tenant] else { return }
                entries.byTenant[tenant] = stale.map { .read($0, at: .now - timeToLive + Self.retryAfterFailure) }
            }
            guard let stale else {
                throw ServiceFault(code: "routing_unavailable", message: "The tenant's routing could not be read; please retry.")
            }
            return stale
        }
    }

    private func start(
        _ tenant: UUID, stale: TenantRouting?, in entries: inout Entries
    ) -> (UInt64, Task<TenantRouting, any Error>) {
        let load = self.load
        let task = Task { try await load(tenant) }
        entries.nextRead += 1
        entries.byTenant[tenant] = .reading(id: entries.nextRead, task, stale: stale)
        return (entries.nextRead, task)
    }
}
