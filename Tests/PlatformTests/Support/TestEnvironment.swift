import Contracts
import Foundation
import Logging
import PostgresNIO
import SwitchyardBus
import SwitchyardDatabase
import Synchronization
import Testing

/// The servers `make test` started, read from the variables it exports.
enum TestEnvironment {
    static let variables = ProcessInfo.processInfo.environment

    static func require(_ name: String) -> String {
        guard let value = variables[name], !value.isEmpty else {
            fatalError("\(name) is not set: run the tests with `make test`, which starts PostgreSQL, Redis and NATS")
        }
        return value
    }

    static var databaseURL: String { require("DATABASE_URL") }
    static var ownerURL: String { require("DATABASE_OWNER_URL") }
    static var natsURL: String { require("NATS_URL") }
    static var redisURL: String { require("REDIS_URL") }
    static var postgresBinaries: String { require("PG_BIN") }
    /// The repository root, for scripts and built executables.
    static var root: URL { URL(fileURLWithPath: require("SWITCHYARD_TEST_ROOT")) }

    /// How long a test waits for a service's answer when what it checks is the answer, not its
    /// speed: long enough for a machine busy with the rest of the suite (every suite runs at
    /// once, on two cores here, with a debug build).
    static let replyTimeout: Duration = .seconds(30)

    /// How long a request sent before its responder subscribes keeps being sent again, in tests
    /// of exactly that: the services' one second is too short for a responder starting on a
    /// machine that busy.
    static let lateResponderGrace: Duration = .seconds(20)

    static var logger: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        return logger
    }

    /// A product built beside the tests (`swift build --build-tests` builds every one).
    static func executable(_ name: String) -> URL {
        var directory = Bundle.main.bundleURL
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent(name).path),
              directory.pathComponents.count > 1 {
            directory.deleteLastPathComponent()
        }
        return directory.appendingPathComponent(name)
    }
}

/// Runs `body` with a live application-role pool, closed afterwards even when `body` throws.
func withDatabase<T: Sendable>(url: String = TestEnvironment.databaseURL, _ body: (Database) async throws -> T) async throws -> T {
    let database = try Database(url: url, maximumConnections: 4, logger: TestEnvironment.logger)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await database.run() }
        defer { group.cancelAll() }
        return try await body(database)
    }
}

/// Runs `body` with a bus connection, closed afterwards.
func withBus<T: Sendable>(url: String = TestEnvironment.natsURL, _ body: (Bus) async throws -> T) async throws -> T {
    try await Bus.withConnection(.init(url: url, name: "tests"), logger: TestEnvironment.logger, body)
}

/// A new tenant of its own per test, so tests run in parallel without seeing each other.
func makeTenant(_ database: Database, name: String = "test") async throws -> UUID {
    let tenant = UUID.timeOrdered()
    _ = try await database.withTenant(tenant) { try await TenantRepository.create(name: name, in: $0) }
    return tenant
}

/// Polls `condition` until it holds or `timeout` passes: for state kept in another process,
/// which sends no signal when it changes.
func eventually(timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}

/// A unique name for a consumer or subject token of one test.
func uniqueName(_ base: String) -> String {
    "\(base)-\(UUID().uuidString.prefix(8).lowercased())"
}

/// A count that tasks share.
final class SharedCount: Sendable {
    let value = Atomic(0)
}
