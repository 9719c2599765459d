import Contracts
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import SwitchyardBus
import UnixSignals

/// The catalog in force. Calls read it once each; a reload swaps it whole, and a reload that
/// fails leaves the one in force untouched.
public final class CatalogStore: Sendable {
    private let current: Mutex<(catalog: Catalog, loadedAt: Date)>
    let path: String

    public init(path: String) throws(CatalogError) {
        self.path = path
        current = Mutex((try CatalogFile.load(path: path), Date()))
    }

    public init(_ catalog: Catalog, path: String) {
        self.path = path
        current = Mutex((catalog, Date()))
    }

    public var catalog: Catalog { current.withLock { $0.catalog } }

    /// The catalog's models as `GET /v1/models` lists them, by name, with a tenant's routing
    /// applied: a model's capabilities are those of the deployments that may answer, its price
    /// the tenant's charge at `time` or else the highest of those deployments', its completion
    /// bound the largest of theirs.
    func modelList(routing: TenantRouting, at time: Date) -> ModelList {
        let (catalog, loadedAt) = current.withLock { $0 }
        let entries = catalog.models.values.compactMap { $0.routed(by: routing.overrides[$0.name]) }
        return ModelList(data: entries.sorted { $0.name < $1.name }.map { entry in
            let capabilities = entry.deployments.reduce(into: Set<Capability>()) { $0.formUnion($1.capabilities) }
            let charge = routing.prices.price(of: entry.name, at: time)?.price
            let pricing = Price(
                inputMicrosPerMillion: charge?.inputMicrosPerMillion ?? entry.deployments.map(\.price.inputMicrosPerMillion).max() ?? 0,
                outputMicrosPerMillion: charge?.outputMicrosPerMillion ?? entry.deployments.map(\.price.outputMicrosPerMillion).max() ?? 0)
            return ModelInfo(id: entry.name, created: Int64(loadedAt.timeIntervalSince1970), capabilities: capabilities.map(\.rawValue).sorted(),
                             pricing: pricing, maxCompletionTokens: entry.deployments.map(\.completionTokensAtMost).max())
        })
    }

    /// Reads the file again and puts it in force when it is valid; throws (and changes
    /// nothing) when it is not.
    public func reload() throws(CatalogError) {
        let fresh = try CatalogFile.load(path: path)
        current.withLock { $0 = (fresh, Date()) }
    }
}

/// Puts the catalog file in force again, on request or on SIGHUP, and announces it
/// (`catalog.reloaded`), so that gateways reserve the next calls by its prices and bounds.
struct CatalogReloading: Sendable {
    let store: CatalogStore
    let bus: Bus
    /// This replica's name, in its answer and its event.
    let instance: String
    let logger: Logger

    /// Reads the file again; a file that fails keeps the catalog in force.
    func reload(on cause: String) async -> CatalogReloadResult {
        do {
            try store.reload()
        } catch {
            logger.error("catalog reload failed; the catalog in force is kept", metadata: ["error": "\(error)", "on": "\(cause)"])
            return CatalogReloadResult(instance: instance, status: "failed", models: store.catalog.models.keys.sorted(), error: "\(error)")
        }
        let models = store.catalog.models.keys.sorted()
        logger.notice("catalog reloaded", metadata: ["path": "\(store.path)", "models": "\(models)", "on": "\(cause)"])
        do {
            try await bus.publish(Envelope(tenantID: .everyTenant, payload: CatalogReloaded(instance: instance, models: models)))
        } catch {
            // Gateways read the model list again within `ModelTerms.timeToLive` all the same.
            logger.warning("catalog.reloaded could not be announced", metadata: ["error": "\(error)"])
        }
        return CatalogReloadResult(instance: instance, status: "reloaded", models: models)
    }
}

/// Reloads the catalog on SIGHUP, as operators expect of a daemon's configuration.
struct CatalogReloadOnHangup: Service {
    let reloading: CatalogReloading

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in signals {
                _ = await reloading.reload(on: "SIGHUP")
            }
        }
    }
}
