import Contracts
import Foundation
import Synchronization
import SwitchyardDatabase

/// The catalog as each tenant sees it: the catalog in force, with the tenant's routing
/// overrides applied. A tenant's overrides are read from PostgreSQL on its first call and kept
/// until a `routing.changed` event drops them; after a minute (an event lost to a crash is made
/// up for by the lifetime) they are read again in the background while the copy held serves on,
/// so only a tenant's first call after a start or a change waits for the database. When they
/// cannot be read, the copy held serves on; with no copy the call fails with
/// `routing_unavailable` rather than reach a deployment the tenant may have ruled out.
public final class TenantCatalogs: Sendable {
    let store: CatalogStore
    private let load: @Sendable (UUID) async throws -> [RoutingOverride]
    private let timeToLive: Duration
    private let entries = Mutex<Entries>(Entries())

    /// Overrides from `database`.
    public convenience init(store: CatalogStore, database: Database, timeToLive: Duration = .seconds(60)) {
        self.init(store: store, timeToLive: timeToLive) { tenant in
            try await database.withTenant(tenant) { try await RoutingOverrideRepository.list(in: $0) }
        }
    }

    /// No tenant overrides the catalog: a router serving a catalog alone.
    public convenience init(store: CatalogStore) {
        self.init(store: store, timeToLive: .seconds(60)) { _ in [] }
    }

    /// Overrides from `load`, which is called once per tenant per `timeToLive` at most.
    public init(store: CatalogStore, timeToLive: Duration, load: @escaping @Sendable (UUID) async throws -> [RoutingOverride]) {
        self.store = store
        self.timeToLive = timeToLive
        self.load = load
    }

    /// The model `name` as `tenant`'s calls are routed.
    public func model(_ name: String, tenant: UUID) async throws(ServiceFault) -> ModelEntry {
        let catalog = store.catalog
        guard let entry = catalog.model(name) else {
            throw ServiceFault(code: "model_not_found", message: "The model `\(name)` does not exist or you do not have access to it.", param: "model")
        }
        guard let routed = entry.routed(by: try await overrides(of: tenant)[name]) else {
            throw ServiceFault(
                code: "routing_unavailable",
                message: "The tenant's routing of `\(name)` names no deployment the catalog still has; an admin must set it again.")
        }
        return routed
    }

    /// The tenant's models as `GET /v1/models` lists them.
    func modelList(tenant: UUID) async throws(ServiceFault) -> ModelList {
        store.modelList(routing: try await overrides(of: tenant))
    }

    /// Reads the tenant's overrides again on its next call.
    public func forget(_ tenant: UUID) {
        entries.withLock { entries in
            entries.byTenant[tenant] = nil
        }
    }

    private struct Entries {
        var byTenant: [UUID: Entry] = [:]
        /// Tells a read that finished after `forget` from the one that replaced it.
        var nextRead: UInt64 = 0
    }

    private enum Entry {
        case reading(id: UInt64, Task<[String: RoutingOverride], any Error>, stale: [String: RoutingOverride]?)
        case read([String: RoutingOverride], at: ContinuousClock.Instant)
    }

    /// A failed read is tried again after this long, not on every call.
    private static let retryAfterFailure: Duration = .seconds(5)

    private func overrides(of tenant: UUID) async throws(ServiceFault) -> [String: RoutingOverride] {
        enum Next {
            case serve([String: RoutingOverride])
            /// Serve the copy held; a read of fresh overrides was started in the background.
            case serveAndRefresh([String: RoutingOverride], read: UInt64, Task<[String: RoutingOverride], any Error>)
            case await(read: UInt64, Task<[String: RoutingOverride], any Error>)
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
        _ id: UInt64, _ task: Task<[String: RoutingOverride], any Error>, of tenant: UUID, stale: [String: RoutingOverride]?
    ) async throws(ServiceFault) -> [String: RoutingOverride] {
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
        _ tenant: UUID, stale: [String: RoutingOverride]?, in entries: inout Entries
    ) -> (UInt64, Task<[String: RoutingOverride], any Error>) {
        let load = self.load
        let task = Task { Dictionary(try await load(tenant).map { ($0.model, $0) }, uniquingKeysWith: { first, _ in first }) }
        entries.nextRead += 1
        entries.byTenant[tenant] = .reading(id: entries.nextRead, task, stale: stale)
        return (entries.nextRead, task)
    }
}
