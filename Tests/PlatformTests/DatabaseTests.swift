import Contracts
import Foundation
import PostgresNIO
import SwitchyardDatabase
import Testing

@Suite struct MigrationTests {
    static var directory: URL { TestEnvironment.root.appendingPathComponent("migrations") }

    @Test func appliedMigrationsAreNotAppliedAgain() async throws {
        try await withDatabase(url: TestEnvironment.ownerURL) { owner in
            let applied = try await MigrationRunner(client: owner.client, logger: TestEnvironment.logger)
                .apply(try Migration.load(from: Self.directory))
            #expect(applied.isEmpty)
        }
    }

    @Test func anAppliedMigrationThatWasEditedIsRefused() async throws {
        var migrations = try Migration.load(from: Self.directory)
        let first = migrations[0]
        migrations[0] = Migration(version: first.version, name: first.name, sql: first.sql + "\n-- edited\n")
        await #expect(throws: MigrationError.editedAfterApply(version: first.version, name: first.name)) {
            try await withDatabase(url: TestEnvironment.ownerURL) { owner in
                try await MigrationRunner(client: owner.client, logger: TestEnvironment.logger).apply(migrations)
            }
        }
    }

    @Test func aFailingMigrationLeavesNothingBehindAndNamesItsStatement() async throws {
        let table = "broken_\(UUID().uuidString.prefix(8).lowercased())"
        let broken = Migration(version: 9_000_000 + Int.random(in: 0..<999_999), name: "9999_broken", sql: """
            CREATE TABLE \(table) (id int);
            INSERT INTO \(table) VALUES ('not a number');
            """)
        try await withDatabase(url: TestEnvironment.ownerURL) { owner in
            let runner = MigrationRunner(client: owner.client, logger: TestEnvironment.logger)
            await #expect {
                try await runner.apply([broken])
            } throws: { error in
                guard case MigrationError.failed(let name, let statement, _) = error else { return false }
                return name == "9999_broken" && statement == 2
            }
            let rows = try await owner.client.query("SELECT to_regclass(\(table))::text, (SELECT count(*) FROM schema_migrations WHERE version = \(broken.version))::int")
            for try await (relation, recorded) in rows.decode((String?, Int).self) {
                #expect(relation == nil && recorded == 0)
            }
        }
    }

    @Test func aDatabaseURLIsReadAsWritten() throws {
        let configuration = try PostgresClient.Configuration(url: "postgres://app:p%2541ss@[::1]:5433/switchyard?sslmode=disable")
        #expect(configuration.host == "::1" && configuration.port == 5433)
        #expect(configuration.username == "app" && configuration.database == "switchyard")
        #expect(configuration.password == "p%41ss", "percent-decoded once")
        #expect(throws: DatabaseURLError.self) { try PostgresClient.Configuration(url: "mysql://app@host/db") }
        #expect(throws: DatabaseURLError.self) { try PostgresClient.Configuration(url: "postgres://app@host/db?sslmode=verify-full") }
    }

    @Test func migrationFilesAreReadInVersionOrder() throws {
        let migrations = try Migration.load(from: Self.directory)
        #expect(migrations.map(\.version) == migrations.map(\.version).sorted())
        #expect(migrations.first?.name == "0001_tenancy")
        #expect(migrations.allSatisfy { $0.checksum.count == 64 })
    }
}

@Suite struct SQLScriptTests {
    @Test func statementsSplitAtTopLevelSemicolonsOnly() {
        let script = """
            -- a comment; with a semicolon
            CREATE TABLE t (a text DEFAULT 'x;y');
            /* block; comment */
            CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$;
            CREATE FUNCTION g() RETURNS int LANGUAGE plpgsql AS $body$ BEGIN RETURN 2; END $body$;
            SELECT "odd;name", 'it''s; fine' FROM t
            """
        let statements = SQLScript.statements(in: script)
        #expect(statements.count == 4)
        #expect(statements[0].hasSuffix("DEFAULT 'x;y')"))
        #expect(statements[1].contains("$$ SELECT 1; $$"))
        #expect(statements[2].contains("BEGIN RETURN 2; END"))
        #expect(statements[3] == "SELECT \"odd;name\", 'it''s; fine' FROM t")
    }

    @Test func commentsAloneAreNoStatement() {
        #expect(SQLScript.statements(in: "-- nothing\n;\n  ;").isEmpty)
    }
}

@Suite struct APIKeyTests {
    @Test func aCreatedKeyResolvesToItsTenantAndRole() async throws {
        try await withDatabase { database in
            let tenant = try await makeTenant(database)
            let (record, secret) = try await database.withTenant(tenant) {
                try await APIKeyRepository.create(name: "ci", role: .developer, allowedModels: ["local-chat"], in: $0)
            }
            #expect(secret.value.hasPrefix("sk-sy-") && secret.value.count >= 6 + 43)
            #expect(secret.description == record.prefix + "…")
            let resolved = try await APIKeyRepository.resolve(secret.value, using: database)
            #expect(resolved == .success(ResolvedAPIKey(id: record.id, tenantID: tenant, role: .developer, allowedModels: ["local-chat"], expiresAt: nil)))
        }
    }

    @Test func aWrongSecretWithARealPrefixIsUnknown() async throws {
        try await withDatabase { database in
            let tenant = try await makeTenant(database)
            let (_, secret) = try await database.withTenant(tenant) { try await APIKeyRepository.create(name: "k", role: .viewer, in: $0) }
            var forged = Array(secret.value)
            forged[forged.count - 1] = forged.last == "A" ? "B" : "A"
            #expect(try await APIKeyRepository.resolve(String(forged), using: database) == .failure(.unknown))
            #expect(try await APIKeyRepository.resolve("sk-sy-short", using: database) == .failure(.malformed))
            #expect(try await APIKeyRepository.resolve(APIKeySecret.generate().value, using: database) == .failure(.unknown))
        }
    }

    @Test func revokedAndExpiredKeysAreRefused() async throws {
        try await withDatabase { database in
            let tenant = try await makeTenant(database)
            let (revoked, revokedSecret) = try await database.withTenant(tenant) { try await APIKeyRepository.create(name: "r", role: .admin, in: $0) }
            let (_, expiredSecret) = try await database.withTenant(tenant) {
                try await APIKeyRepository.create(name: "e", role: .admin, expiresAt: Date().addingTimeInterval(-1), in: $0)
            }
            let record = try await database.withTenant(tenant) { try await APIKeyRepository.revoke(id: revoked.id, in: $0) }
            #expect(record?.revokedAt != nil)
            #expect(try await APIKeyRepository.resolve(revokedSecret.value, using: database) == .failure(.revoked))
            #expect(try await APIKeyRepository.resolve(expiredSecret.value, using: database) == .failure(.expired))
        }
    }

    @Test func anotherTenantCannotRevokeAKey() async throws {
        try await withDatabase { database in
            let owner = try await makeTenant(database)
            let stranger = try await makeTenant(database)
            let (record, secret) = try await database.withTenant(owner) { try await APIKeyRepository.create(name: "k", role: .owner, in: $0) }
            let revokedByStranger = try await database.withTenant(stranger) { try await APIKeyRepository.revoke(id: record.id, in: $0) }
            #expect(revokedByStranger == nil)
            #expect(try await APIKeyRepository.resolve(secret.value, using: database).isSuccess)
        }
    }
}

@Suite struct AuditLogTests {
    @Test func entriesFormAnUnbrokenChainPerTenant() async throws {
        try await withDatabase { database in
            let tenant = try await makeTenant(database)
            for action in ["key.create", "key.revoke", "tenant.update"] {
                try await database.withTenant(tenant) { try await AuditLog.append(actor: "alice", action: action, detailsJSON: #"{"n": 1}"#, in: $0) }
            }
            let (entries, broken) = try await database.withTenant(tenant) { tx in
                (try await AuditLog.entries(in: tx), try await AuditLog.firstBrokenLink(in: tx))
            }
            #expect(entries.map(\.seq) == [1, 2, 3])
            #expect(entries.map(\.action) == ["key.create", "key.revoke", "tenant.update"])
            #expect(broken == nil)
        }
    }

    @Test func concurrentAppendsTakeDistinctSequences() async throws {
        try await withDatabase { database in
            let tenant = try await makeTenant(database)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<20 {
                    group.addTask {
                        try await database.withTenant(tenant) { try await AuditLog.append(actor: "worker", action: "a\(index)", in: $0) }
                    }
                }
                try await group.waitForAll()
            }
            let (entries, broken) = try await database.withTenant(tenant) { tx in
                (try await AuditLog.entries(in: tx), try await AuditLog.firstBrokenLink(in: tx))
            }
            #expect(entries.map(\.seq) == Array(1...20))
            #expect(broken == nil)
        }
    }

    @Test func theApplicationCannotRewriteTheLog() async throws {
        try await withDatabase { database in
            let tenant = try await makeTenant(database)
            try await database.withTenant(tenant) { try await AuditLog.append(actor: "a", action: "x", in: $0) }
            await #expect(throws: PSQLError.self) {
                try await database.withTenant(tenant) { try await $0.execute("UPDATE audit_log SET actor = 'mallory'") }
            }
            await #expect(throws: PSQLError.self) {
                try await database.withTenant(tenant) { try await $0.execute("DELETE FROM audit_log") }
            }
        }
    }
}

/// `switchyard audit verify` against a log changed behind the application's back (as the owner
/// role, which is the only one that can).
@Suite struct AuditVerifyTests {
    func tamper(_ tenant: UUID, _ statement: String) async throws {
        try await withDatabase(url: TestEnvironment.ownerURL) { owner in
            try await owner.withTenant(tenant) { try await $0.execute(PostgresQuery(unsafeSQL: statement)) }
        }
    }

    func verify(_ tenant: UUID) async -> (passed: Bool, output: String) {
        do {
            return (true, try await CLI.run(["audit", "verify", "--tenant", tenant.uuidString]))
        } catch let failure as CLI.Failed {
            return (false, failure.output)
        } catch {
            return (false, "\(error)")
        }
    }

    func tenantWithFourEntries(_ database: Database) async throws -> UUID {
        let tenant = try await makeTenant(database)
        for action in ["one", "two", "three", "four"] {
            try await database.withTenant(tenant) { try await AuditLog.append(actor: "alice", action: action, in: $0) }
        }
        return tenant
    }

    @Test func anIntactLogPasses() async throws {
        try await withDatabase { database in
            let tenant = try await tenantWithFourEntries(database)
            let result = await verify(tenant)
            #expect(result.passed && result.output.contains("4 entries, chain intact"), "\(result.output)")
        }
    }

    @Test func aChangedEntryIsNamed() async throws {
        try await withDatabase { database in
            let tenant = try await tenantWithFourEntries(database)
            try await tamper(tenant, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
            let result = await verify(tenant)
            #expect(!result.passed && result.output.contains("BROKEN at entry 2"), "\(result.output)")
        }
    }

    @Test func aRemovedEntryIsFoundAtTheOneAfterIt() async throws {
        try await withDatabase { database in
            let tenant = try await tenantWithFourEntries(database)
            try await tamper(tenant, "DELETE FROM audit_log WHERE seq = 3")
            let result = await verify(tenant)
            #expect(!result.passed && result.output.contains("BROKEN at entry 4"), "\(result.output)")
        }
    }
}

@Suite struct TenantTransactionTests {
    @Test func anEventIsMarkedProcessedOncePerConsumer() async throws {
        try await withDatabase { database in
            let tenant = try await makeTenant(database)
            let event = UUID.timeOrdered()
            let first = try await database.withTenant(tenant) { try await $0.markProcessed(eventID: event, consumer: "billing") }
            let again = try await database.withTenant(tenant) { try await $0.markProcessed(eventID: event, consumer: "billing") }
            let other = try await database.withTenant(tenant) { try await $0.markProcessed(eventID: event, consumer: "analytics") }
            #expect(first && !again && other)
        }
    }

    @Test func aThrowingBodyRollsBackAndKeepsItsErrorType() async throws {
        struct Refused: Error, Equatable {}
        try await withDatabase { database in
            let tenant = UUID.timeOrdered()
            await #expect(throws: Refused.self) {
                try await database.withTenant(tenant) { tx in
                    _ = try await TenantRepository.create(name: "rolled back", in: tx)
                    throw Refused()
                }
            }
            let found = try await database.withTenant(tenant) { try await TenantRepository.find(in: $0) }
            #expect(found == nil)
        }
    }
}

extension Result {
    var isSuccess: Bool {
        if case .success = self { return true }
        return false
    }
}

@Suite struct DatabaseHealthTests {
    /// Readiness answers from a connection of its own: a pool whose every connection is busy
    /// does not make the service look down.
    @Test func aPingAnswersWhileEveryPooledConnectionIsBusy() async throws {
        let database = try Database(url: TestEnvironment.databaseURL, maximumConnections: 2, logger: TestEnvironment.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await database.run() }
            defer { group.cancelAll() }
            try await database.ping(timeout: .seconds(5))  // both pools connected
            let busy = Task {
                try await withThrowingTaskGroup(of: Void.self) { queries in
                    for _ in 0..<4 { queries.addTask { _ = try await database.client.query("SELECT pg_sleep(3)").collect() } }
                    try await queries.waitForAll()
                }
            }
            try await Task.sleep(for: .milliseconds(300))
            let started = ContinuousClock.now
            try await database.ping(timeout: .seconds(2))
            #expect(started.duration(to: .now) < .seconds(2), "the ping waited for the busy pool")
            try await busy.value
        }
    }
}
