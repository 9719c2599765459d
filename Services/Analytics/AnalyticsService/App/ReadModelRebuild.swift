import Contracts
import Foundation
import Logging
import PostgresNIO
import SwitchyardBus
import SwitchyardDatabase

/// Makes the read models again from the events: empties them, then projects every message the
/// EVENTS stream holds, from its first, until it has caught up with the stream's end; of every
/// tenant, or of some tenants only (the others' rows are left alone). The stream is read a batch
/// at a time (`StreamReader`), each tenant's events alone when some tenants are rebuilt. The
/// projection service may keep running meanwhile: an event is projected once, by whichever gets
/// it first. Until the rebuild ends, the read models show only part of the history.
public struct ReadModelRebuild: Sendable {
    let bus: Bus
    let projection: Projection
    let logger: Logger
    /// Events read at once, then projected: a tenant's share of them in one transaction (as the
    /// projection service writes its batches).
    let batchSize: Int

    public init(bus: Bus, database: Database, logger: Logger, batchSize: Int = 256) {
        self.bus = bus
        projection = Projection(database: database)
        self.logger = logger
        self.batchSize = max(1, batchSize)
    }

    public struct Summary: Sendable, Equatable {
        /// Messages of the tenants rebuilt read from the stream.
        public var replayed = 0
        /// Events projected by the rebuild (the others were projected meanwhile by the service,
        /// or are of a kind the read models do not use).
        public var projected = 0
        /// Events no read model can take (unreadable, or of a tenant that does not exist).
        public var skipped = 0
    }

    public func run(tenants: Set<UUID>? = nil) async throws -> Summary {
        let database = projection.database
        var summary = Summary()
        guard let tenants else {
            try await ReadModelRepository.resetAll(database)
            try await replay(Subject.allEvents, into: &summary)
            return summary
        }
        // A tenant's events are read alone, the server picking them out of the stream; the
        // tenants one after another (a consumer of nats-server 2.9 takes one filter subject).
        for tenant in tenants {
            try await database.withTenant(tenant) { try await ReadModelRepository.reset(in: $0) }
            try await replay(Subject.events(ofTenant: tenant), into: &summary)
        }
        return summary
    }

    /// Projects the stream's messages on `filter` from the first to the stream's end.
    private func replay(_ filter: String, into summary: inout Summary) async throws {
        let reader = try await StreamReader(bus: bus, stream: StreamSpec.events.name, filterSubject: filter, logger: logger)
        do {
            while true {
                let deliveries = try await reader.next(batchSize)
                if deliveries.isEmpty { break }
                var batch: [(sequence: UInt64, event: Projection.Prepared)] = []
                for delivery in deliveries {
                    summary.replayed += 1
                    do {
                        guard let prepared = try projection.prepare(delivery.message) else { continue }
                        batch.append((delivery.streamSequence, prepared))
                    } catch let error as UnprojectableEvent {
                        summary.skipped += 1
                        logger.warning("event skipped", metadata: ["sequence": "\(delivery.streamSequence)", "reason": "\(error)"])
                    }
                }
                try await project(batch, into: &summary)
            }
        } catch {
            await reader.close()
            throw error
        }
        await reader.close()
    }

    private func project(_ batch: [(sequence: UInt64, event: Projection.Prepared)], into summary: inout Summary) async throws {
        let byTenant = Dictionary(grouping: batch, by: \.event.tenantID)
        for (tenant, events) in byTenant {
            do {
                let outcomes = try await projection.project(tenant: tenant, events.map(\.event))
                summary.projected += outcomes.count { $0 == .projected }
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23503" {
                summary.skipped += events.count
                logger.warning("events of a tenant that does not exist skipped", metadata: [
                    "tenant_id": "\(Subject.token(tenant))", "sequences": "\(events.map(\.sequence))",
                ])
            }
        }
    }
}
