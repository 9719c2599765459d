import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The catalog in force. Calls read it once each; a reload swaps it whole, and a reload that
/// fails leaves the one in force untouched.
public final class CatalogStore: Sendable {
    private let current: Mutex<Catalog>
    let path: String

    public init(path: String) throws(CatalogError) {
        self.path = path
        current = Mutex(try CatalogFile.load(path: path))
    }

    init(_ catalog: Catalog, path: String) {
        self.path = path
        current = Mutex(catalog)
    }

    public var catalog: Catalog { current.withLock { $0 } }

    /// Reads the file again and puts it in force when it is valid; throws (and changes
    /// nothing) when it is not.
    public func reload() throws(CatalogError) {
        let fresh = try CatalogFile.load(path: path)
        current.withLock { $0 = fresh }
    }
}

/// Reloads the catalog on SIGHUP, as operators expect of a daemon's configuration.
struct CatalogReloader: Service {
    let store: CatalogStore
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in signals {
                do {
                    try store.reload()
                    logger.notice("catalog reloaded", metadata: ["path": "\(store.path)", "models": "\(store.catalog.models.keys.sorted())"])
                } catch {
                    logger.error("catalog reload failed; the catalog in force is kept", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}
