import Contracts
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// The PostgreSQL pool of a service, connected as the application role: it owns no table and
/// cannot bypass row-level security, so tenant data is reached only through `withTenant`.
public final class Database: Service, Sendable {
    public let client: PostgresClient
    /// One connection of its own for `ping`, so a pool busy with work (a consumer's handlers,
    /// a burst of calls) does not make the service look unready.
    let healthClient: PostgresClient
    let logger: Logger

    public init(url: String, maximumConnections: Int = 20, logger: Logger) throws(DatabaseURLError) {
        var configuration = try PostgresClient.Configuration(url: url)
        configuration.options.maximumConnections = maximumConnections
        configuration.options.connectTimeout = .seconds(3)
        self.client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        configuration.options.minimumConnections = 0
        configuration.options.maximumConnections = 1
        self.healthClient = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.logger = logger
    }

    /// Runs the connection pools until shutdown; queries wait until this runs.
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.client.run() }
            group.addTask { await self.healthClient.run() }
        }
    }

    /// Runs `body` in one transaction in which row-level security shows only `tenantID`'s rows
    /// and accepts only rows of that tenant. Commits when `body` returns, rolls back when it
    /// throws, and rethrows `body`'s own error unwrapped.
    public func withTenant<Result: Sendable>(
        _ tenantID: UUID, _ body: (TenantTransaction) async throws -> Result
    ) async throws -> Result {
        do {
            return try await client.withTransaction(logger: logger) { connection in
                // `true`: local to this transaction, so a pooled connection never keeps it.
                try await connection.query("SELECT set_config('app.tenant_id', \(tenantID.uuidString.lowercased()), true)", logger: logger)
                return try await body(TenantTransaction(connection: connection, tenantID: tenantID, logger: logger))
            }
        } catch let error as PostgresTransactionError {
            throw error.closureError ?? error.beginError ?? error.commitError ?? error
        }
    }

    /// Answers whether PostgreSQL accepts a query within `timeout`.
    public func ping(timeout: Duration = .seconds(2)) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.healthClient.query("SELECT 1", logger: self.logger) }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw DatabaseUnavailable(reason: "no answer within \(timeout)")
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }
}

public struct DatabaseUnavailable: Error, CustomStringConvertible {
    public var reason: String
    public var description: String { "PostgreSQL is unavailable: \(reason)" }
}

/// A transaction scoped to one tenant. Only `Database.withTenant` makes one.
public struct TenantTransaction: Sendable {
    public let connection: PostgresConnection
    public let tenantID: UUID
    let logger: Logger

    @discardableResult
    public func query(_ query: PostgresQuery, file: String = #fileID, line: Int = #line) async throws -> PostgresRowSequence {
        try await connection.query(query, logger: logger, file: file, line: line)
    }

    public func execute(_ query: PostgresQuery, file: String = #fileID, line: Int = #line) async throws {
        try await connection.query(query, logger: logger, file: file, line: line)
    }

    /// Records that `consumer` handled `eventID`, in this transaction. Returns false when it had
    /// been recorded before: the caller must then skip the event's effect, so a redelivered
    /// event has no second effect.
    public func markProcessed(eventID: UUID, consumer: String) async throws -> Bool {
        try await markProcessed(eventIDs: [eventID], consumer: consumer).contains(eventID)
    }

    /// `markProcessed(eventID:consumer:)` for many events in one statement: returns the ids
    /// recorded now, whose effects the caller applies.
    public func markProcessed(eventIDs: [UUID], consumer: String) async throws -> Set<UUID> {
        let rows = try await query("""
            INSERT INTO processed_events (tenant_id, consumer, event_id)
            SELECT \(tenantID), \(consumer), id FROM unnest(\(eventIDs)::uuid[]) AS id
            ON CONFLICT DO NOTHING
            RETURNING event_id
            """)
        var recorded: Set<UUID> = []
        for try await id in rows.decode(UUID.self) { recorded.insert(id) }
        return recorded
    }
}

/// A `postgres://user:password@host:port/database` URL that could not be used.
public struct DatabaseURLError: Error, CustomStringConvertible {
    public var reason: String
    public var description: String { "invalid database URL: \(reason)" }
}

extension PostgresClient.Configuration {
    /// Reads `postgres://user:password@host:port/database?sslmode=disable|prefer|require`.
    public init(url: String) throws(DatabaseURLError) {
        guard let components = URLComponents(string: url),
              components.scheme == "postgres" || components.scheme == "postgresql" else {
            throw DatabaseURLError(reason: "expected postgres://user:password@host:port/database")
        }
        guard let host = components.serverHost, !host.isEmpty else { throw DatabaseURLError(reason: "no host") }
        guard let user = components.user, !user.isEmpty else { throw DatabaseURLError(reason: "no user") }
        let database = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        let tls: TLS
        switch components.queryItems?.first(where: { $0.name == "sslmode" })?.value ?? "disable" {
        case "disable": tls = .disable
        case "prefer": tls = .prefer(.makeClientConfiguration())
        case "require": tls = .require(.makeClientConfiguration())
        case let mode: throw DatabaseURLError(reason: "sslmode \(mode) is not one of disable, prefer, require")
        }
        self.init(
            host: host, port: components.port ?? 5432, username: user,
            password: components.password,
            database: database.isEmpty ? nil : database, tls: tls)
    }
}
