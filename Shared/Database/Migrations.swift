import Crypto
import Foundation
import Logging
import PostgresNIO

/// One numbered SQL file of `migrations/`, e.g. `0001_core.sql`.
public struct Migration: Sendable, Equatable {
    public var version: Int
    public var name: String
    public var sql: String
    /// SHA-256 of the file, hex: an applied migration whose file changed is refused.
    public var checksum: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
        self.checksum = SHA256.hash(data: Data(sql.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Reads every `NNNN_name.sql` of a folder, in version order.
    public static func load(from directory: URL) throws(MigrationError) -> [Migration] {
        let files: [URL]
        do {
            files = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
        } catch {
            throw .unreadable(directory.path, "\(error)")
        }
        var migrations: [Migration] = []
        for file in files where file.pathExtension == "sql" {
            let base = file.deletingPathExtension().lastPathComponent
            guard let underscore = base.firstIndex(of: "_"), let version = Int(base[..<underscore]) else {
                throw .badFileName(file.lastPathComponent)
            }
            guard let sql = try? String(contentsOf: file, encoding: .utf8) else {
                throw .unreadable(file.path, "not UTF-8 text")
            }
            if let clash = migrations.first(where: { $0.version == version }) {
                throw .duplicateVersion(version, clash.name, base)
            }
            migrations.append(Migration(version: version, name: base, sql: sql))
        }
        return migrations.sorted { $0.version < $1.version }
    }
}

public enum MigrationError: Error, CustomStringConvertible, Equatable {
    case unreadable(String, String)
    case badFileName(String)
    case duplicateVersion(Int, String, String)
    /// The file of an applied migration was changed afterwards: write a new migration instead.
    case editedAfterApply(version: Int, name: String)
    case failed(name: String, statement: Int, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): "cannot read \(path): \(reason)"
        case .badFileName(let file): "\(file): migration files are named NNNN_description.sql"
        case .duplicateVersion(let version, let first, let second): "\(first) and \(second) both have version \(version)"
        case .editedAfterApply(let version, let name):
            "migration \(version) (\(name)) was edited after it was applied; restore it and add a new migration"
        case .failed(let name, let statement, let reason): "\(name), statement \(statement): \(reason)"
        }
    }
}

/// Applies pending migrations in order, each in its own transaction with its record in
/// `schema_migrations`. Runs as the owner role. Several runners at once are safe: an advisory
/// lock lets one work at a time.
public struct MigrationRunner: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Returns the migrations it applied (none when the schema was current).
    @discardableResult
    public func apply(_ migrations: [Migration]) async throws -> [Migration] {
        try await client.withConnection { connection in
            try await connection.query("SELECT pg_advisory_lock(\(Self.lockKey))", logger: logger)
            do {
                let applied = try await apply(migrations, on: connection)
                try await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                return applied
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                throw error
            }
        }
    }

    /// Arbitrary, fixed: names the lock all runners take.
    private static let lockKey: Int64 = 0x5377_6974_6368

    private func apply(_ migrations: [Migration], on connection: PostgresConnection) async throws -> [Migration] {
        try await connection.query("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY,
                name text NOT NULL,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """, logger: logger)
        var recorded: [Int: String] = [:]
        for try await (version, checksum) in try await connection.query(
            "SELECT version, checksum FROM schema_migrations", logger: logger
        ).decode((Int, String).self) {
            recorded[version] = checksum
        }
        var applied: [Migration] = []
        for migration in migrations {
            if let checksum = recorded[migration.version] {
                guard checksum == migration.checksum else {
                    throw MigrationError.editedAfterApply(version: migration.version, name: migration.name)
                }
                continue
            }
            try await run(migration, on: connection)
            applied.append(migration)
            logger.info("migration applied", metadata: ["migration": "\(migration.name)"])
        }
        return applied
    }

    private func run(_ migration: Migration, on connection: PostgresConnection) async throws {
        let statements = SQLScript.statements(in: migration.sql)
        do {
            try await connection.withTransaction(logger: logger) { connection in
                for (index, statement) in statements.enumerated() {
                    do {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    } catch let error as PSQLError {
                        throw MigrationError.failed(
                            name: migration.name, statement: index + 1,
                            reason: error.serverInfo?[.message] ?? "\(error)")
                    }
                }
                try await connection.query("""
                    INSERT INTO schema_migrations (version, name, checksum)
                    VALUES (\(migration.version), \(migration.name), \(migration.checksum))
                    """, logger: logger)
            }
        } catch let error as PostgresTransactionError {
            throw error.closureError ?? error.beginError ?? error.commitError ?? error
        }
    }
}

/// Splits a SQL script into statements at top-level semicolons, leaving semicolons inside
/// quotes, dollar-quoted bodies and comments alone. (PostgresNIO sends one statement per query.)
public enum SQLScript {
    public static func statements(in script: String) -> [String] {
        var statements: [String] = []
        var current = ""
        var index = script.startIndex
        func peek(_ offset: Int = 1) -> Character? {
            script.index(index, offsetBy: offset, limitedBy: script.endIndex).flatMap { $0 < script.endIndex ? script[$0] : nil }
        }
        func finish() {
            let statement = current.trimmingCharacters(in: .whitespacesAndNewlines)
            if !statement.isEmpty && !isOnlyComments(statement) { statements.append(statement) }
            current = ""
        }
        while index < script.endIndex {
            let character = script[index]
            switch character {
            case "-" where peek() == "-":
                let end = script[index...].firstIndex(of: "\n") ?? script.endIndex
                current += script[index..<end]
                index = end
                continue
            case "/" where peek() == "*":
                let end = script.range(of: "*/", range: index..<script.endIndex)?.upperBound ?? script.endIndex
                current += script[index..<end]
                index = end
                continue
            case "'", "\"":
                var end = script.index(after: index)
                while end < script.endIndex {
                    if script[end] == character {
                        let next = script.index(after: end)
                        if next < script.endIndex && script[next] == character { end = script.index(after: next); continue }
                        end = next
                        break
                    }
                    end = script.index(after: end)
                }
                current += script[index..<end]
                index = end
                continue
            case "$":
                if let tagEnd = script[script.index(after: index)...].firstIndex(where: { !($0.isLetter || $0.isNumber || $0 == "_") }),
                   script[tagEnd] == "$" {
                    let tag = script[index...tagEnd]
                    let bodyStart = script.index(after: tagEnd)
                    let end = script.range(of: tag, range: bodyStart..<script.endIndex)?.upperBound ?? script.endIndex
                    current += script[index..<end]
                    index = end
                    continue
                }
            case ";":
                finish()
                index = script.index(after: index)
                continue
            default:
                break
            }
            current.append(character)
            index = script.index(after: index)
        }
        finish()
        return statements
    }

    private static func isOnlyComments(_ statement: String) -> Bool {
        statement.split(separator: "\n").allSatisfy {
            let line = $0.trimmingCharacters(in: .whitespaces)
            return line.isEmpty || line.hasPrefix("--")
        }
    }
}
