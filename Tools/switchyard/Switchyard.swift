import ArgumentParser
import Contracts
import Foundation
import Logging
import SwitchyardAdministration
import SwitchyardBus
import SwitchyardDatabase
import SwitchyardRuntime

/// The operator's command line. It reads the same environment variables as the services
/// (`DATABASE_URL`, `DATABASE_OWNER_URL`, `NATS_URL`, and `SWITCHYARD_CONFIG_FILE`).
@main
struct Switchyard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchyard",
        abstract: "Operate a Switchyard installation.",
        subcommands: [Migrate.self, Tenants.self, Keys.self, Members.self, Limits.self, Budgets.self, Audit.self, CatalogCommands.self, RoutingCommands.self, AnalyticsCommands.self, Demo.self, DeadLetters.self])
}

/// Connections a command opens on demand and closes when it ends.
struct Operator {
    let settings: Settings
    let logger: Logger

    static func make() async throws -> Operator {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .error
            return handler
        }
        return Operator(settings: try await Settings.load(), logger: Logger(label: "switchyard.cli"))
    }

    /// Runs `body` with the application-role pool running beside it.
    func withDatabase<T: Sendable>(_ body: @Sendable (Database) async throws -> T) async throws -> T {
        let database = try Database(url: try settings.required("DATABASE_URL"), maximumConnections: 2, logger: logger)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await database.run(); return nil }
            defer { group.cancelAll() }
            return try await body(database)
        }
    }

    @discardableResult
    func withBus<T: Sendable>(_ body: @Sendable (Bus) async throws -> T) async throws -> T {
        try await Bus.withConnection(.init(url: try settings.required("NATS_URL"), name: "switchyard-cli"), logger: logger, body)
    }

    /// Runs `body` with the administration the admin API uses too, acting as `cli` in the audit log.
    func withAdministration<T: Sendable>(_ body: @Sendable (Administration) async throws -> T) async throws -> T {
        try await withDatabase { database in
            try await withBus { bus in
                try await body(Administration(database: database, bus: bus, actor: "cli"))
            }
        }
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply pending migrations as the owner role (DATABASE_OWNER_URL).")

    @Option(help: "The folder of numbered SQL files.")
    var directory = "migrations"

    func run() async throws {
        let cli = try await Operator.make()
        let migrations = try Migration.load(from: URL(fileURLWithPath: directory))
        let ownerURL = try cli.settings.required("DATABASE_OWNER_URL")
        let owner = try Database(url: ownerURL, maximumConnections: 1, logger: cli.logger)
        let applied = try await withThrowingTaskGroup(of: [Migration]?.self) { group in
            group.addTask { try await owner.run(); return nil }
            defer { group.cancelAll() }
            return try await MigrationRunner(client: owner.client, logger: cli.logger).apply(migrations)
        }
        print(applied.isEmpty ? "schema is current (\(migrations.count) migrations)" : "applied \(applied.map(\.name).joined(separator: ", "))")
    }
}
