import Contracts
import Foundation
import PostgresNIO
import SwitchyardDatabase
import Testing

/// Every table with a `tenant_id` column, found in the catalog, must keep tenants apart: a new
/// table without row-level security, or one this suite cannot seed, fails here.
@Suite struct RowLevelSecurityTests {
    /// Writes one row of each tenant-owned table for `tenant`, through the repositories.
    static func seed(_ tenant: UUID, in database: Database) async throws {
        try await database.withTenant(tenant) { tx in
            let (key, _) = try await APIKeyRepository.create(name: "seed", role: .developer, in: tx)
            try await QuotaLimitsRepository.setTenantLimits(QuotaLimits(requestsPerMinute: 10), in: tx)
            _ = try await QuotaLimitsRepository.setKeyLimits(QuotaLimits(tokensPerMinute: 100), keyID: key.id, in: tx)
            try await BudgetRepository.setTenantBudget(Budget(amountMicros: 1_000_000), in: tx)
            _ = try await BudgetRepository.setKeyBudget(Budget(amountMicros: 1_000), keyID: key.id, in: tx)
            try await AuditLog.append(actor: "test", action: "seed", in: tx)
            _ = try await MemberRepository.set(subject: "seed", roles: [.viewer], email: nil, in: tx)
            _ = try await RoutingOverrideRepository.set(RoutingOverride(model: "local-chat", strategy: "lowest_cost"), in: tx)
            let invoice = UUID()
            try await tx.execute("""
                INSERT INTO invoices (tenant_id, id, number, period, status, closed_at, subtotal_micros, total_micros)
                VALUES (\(tenant), \(invoice), \("SY-SEED-\(invoice)"), '2025-01', 'draft', now(), 1, 1)
                """)
            try await tx.execute("""
                INSERT INTO invoice_lines (tenant_id, invoice_id, line, kind, period, model, requests, prompt_tokens, completion_tokens, amount_micros)
                VALUES (\(tenant), \(invoice), 1, 'usage', '2025-01', 'local-chat', 1, 1, 1, 1)
                """)
            _ = try await DiscountRepository.add(basisPoints: 100, effectiveFrom: Date(), in: tx)
            _ = try await PriceRepository.addForTenant(model: "local-chat", price: Price(inputMicrosPerMillion: 1, outputMicrosPerMillion: 1),
                                                       effectiveFrom: Date(), in: tx)
            try await tx.execute("""
                INSERT INTO ledger_entries (tenant_id, event_id, request_id, model, deployment, prompt_tokens, completion_tokens,
                                            cost_micros, status, occurred_at)
                VALUES (\(tenant), \(UUID()), 'req_seed', 'local-chat', 'local/local-chat', 1, 1, 1, 'succeeded', now())
                """)
            _ = try await tx.markProcessed(eventID: .timeOrdered(), consumer: "seed")
            try await tx.execute("""
                INSERT INTO analytics_usage_hourly (tenant_id, hour, api_key_id, model, deployment, requests, failed, cancelled,
                                                    prompt_tokens, completion_tokens, cost_micros, latency_ms_sum, latency_buckets)
                VALUES (\(tenant), date_trunc('hour', now()), \(key.id), 'local-chat', 'local/local-chat', 1, 0, 0, 1, 1, 1, 5, '{0,0,0,1}')
                """)
            try await tx.execute("INSERT INTO analytics_budgets (tenant_id, api_key_id, amount_micros) VALUES (\(tenant), \(key.id), 1000)")
            try await tx.execute("INSERT INTO analytics_processed_events (tenant_id, event_id) VALUES (\(tenant), \(UUID()))")
            let document = UUID.timeOrdered()
            try await tx.execute("""
                INSERT INTO documents (tenant_id, id, name, media_type, body, bytes, request_id, embedding_model)
                VALUES (\(tenant), \(document), 'seed.txt', 'text/plain', 'Seed words.', 11, 'req_seed', 'local-embedding')
                """)
            try await tx.execute("""
                INSERT INTO document_chunks (tenant_id, document_id, chunk_index, text, embedding)
                VALUES (\(tenant), \(document), 0, 'Seed words.', decode('0000803f', 'hex'))
                """)
            let workflow = UUID.timeOrdered()
            try await tx.execute("""
                INSERT INTO workflows (tenant_id, id, spec) VALUES (\(tenant), \(workflow), '{"name": "seed", "inputs": [], "steps": []}')
                """)
            try await tx.execute("""
                INSERT INTO workflow_runs (tenant_id, id, workflow_id, spec, input, request_id, embedding_model)
                VALUES (\(tenant), \(workflow), \(workflow), '{"name": "seed", "inputs": [], "steps": []}', '{}', 'req_seed', 'local-embedding')
                """)
            try await tx.execute("""
                INSERT INTO workflow_run_steps (tenant_id, run_id, step_index, name, status, output, attempts)
                VALUES (\(tenant), \(workflow), 0, 'seed', 'succeeded', 'done', 1)
                """)
            try await tx.execute("""
                INSERT INTO workflow_run_effects (tenant_id, run_id, step_index, kind, resource_id)
                VALUES (\(tenant), \(workflow), 0, 'document', \(document))
                """)
            try await tx.execute("INSERT INTO realtime_ticket_uses (tenant_id, ticket_id, expires_at) VALUES (\(tenant), \(UUID()), now())")
        }
    }

    struct TenantTable: Sendable {
        var name: String
        var rowLevelSecurity: Bool
        var forced: Bool
        var hasTenantPolicy: Bool
    }

    static func tenantTables(_ database: Database) async throws -> [TenantTable] {
        let rows = try await database.client.query("""
            SELECT c.relname::text, c.relrowsecurity, c.relforcerowsecurity,
                   EXISTS (SELECT FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = 'tenant_isolation')
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
            ORDER BY 1
            """)
        var tables: [TenantTable] = []
        for try await (name, security, forced, policy) in rows.decode((String, Bool, Bool, Bool).self) {
            tables.append(TenantTable(name: name, rowLevelSecurity: security, forced: forced, hasTenantPolicy: policy))
        }
        return tables
    }

    static func count(_ table: String, where condition: String, _ tenant: UUID, in tx: TenantTransaction) async throws -> Int {
        var bindings = PostgresBindings()
        bindings.append(tenant)
        let rows = try await tx.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \"\(table)\" WHERE \(condition)", binds: bindings))
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }

    /// A table's columns that an INSERT may name: not dropped, not generated.
    static func writableColumns(_ table: String, _ database: Database) async throws -> [String] {
        let rows = try await database.client.query("""
            SELECT attname::text FROM pg_attribute
            WHERE attrelid = \(table)::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''
            ORDER BY attnum
            """)
        var columns: [String] = []
        for try await name in rows.decode(String.self) { columns.append(name) }
        return columns
    }

    /// Runs one statement as `tenant` and reports the rows it touched, or the SQLSTATE it failed with.
    static func attempt(_ sql: String, binding other: UUID, as tenant: UUID, in database: Database) async -> Result<Int, PSQLError> {
        do {
            return .success(try await database.withTenant(tenant) { tx in
                var bindings = PostgresBindings()
                bindings.append(other)
                var touched = 0
                for try await _ in try await tx.query(PostgresQuery(unsafeSQL: sql, binds: bindings)) { touched += 1 }
                return touched
            })
        } catch let error as PSQLError {
            return .failure(error)
        } catch {
            Issue.record("unexpected error \(error)")
            return .success(-1)
        }
    }

    @Test func theApplicationRoleOwnsNothingAndCannotBypassRowLevelSecurity() async throws {
        try await withDatabase { database in
            let rows = try await database.client.query("""
                SELECT r.rolsuper, r.rolbypassrls,
                       (SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid)::int
                FROM pg_roles r WHERE r.rolname = current_user
                """)
            for try await (superuser, bypass, owned) in rows.decode((Bool, Bool, Int).self) {
                #expect(!superuser && !bypass)
                #expect(owned == 0)
            }
        }
    }

    @Test func noTenantCanReadInsertUpdateOrDeleteAnotherTenantsRows() async throws {
        try await withDatabase { database in
            let a = try await makeTenant(database, name: "A")
            let b = try await makeTenant(database, name: "B")
            try await Self.seed(a, in: database)
            try await Self.seed(b, in: database)
            let tables = try await Self.tenantTables(database)
            #expect(tables.map(\.name).contains("api_keys") && tables.count >= 4)

            for table in tables {
                #expect(table.rowLevelSecurity && table.forced, "\(table.name) must enable and force row-level security")
                #expect(table.hasTenantPolicy, "\(table.name) has no tenant_isolation policy")

                let bRowsBefore = try await database.withTenant(b) { try await Self.count(table.name, where: "tenant_id = $1", b, in: $0) }
                #expect(bRowsBefore > 0, "\(table.name) has no rows of tenant B: seed it in RowLevelSecurityTests.seed")

                // Read: B's rows are invisible to A, even when asked for by id.
                let (bAsSeenByA, othersAsSeenByA, ownAsSeenByA) = try await database.withTenant(a) { tx in
                    (try await Self.count(table.name, where: "tenant_id = $1", b, in: tx),
                     try await Self.count(table.name, where: "tenant_id <> $1", a, in: tx),
                     try await Self.count(table.name, where: "tenant_id = $1", a, in: tx))
                }
                #expect(bAsSeenByA == 0, "\(table.name): A reads B's rows")
                #expect(othersAsSeenByA == 0, "\(table.name): A reads others' rows")
                #expect(ownAsSeenByA > 0, "\(table.name): A cannot read its own rows")

                // Insert: a copy of A's own row, relabelled as B's, is refused. Generated columns
                // are left for PostgreSQL to compute.
                let columns = try await Self.writableColumns(table.name, database).map { "\"\($0)\"" }.joined(separator: ", ")
                let insert = await Self.attempt("""
                    INSERT INTO "\(table.name)" (\(columns))
                    SELECT \(columns)
                    FROM jsonb_populate_record(NULL::"\(table.name)",
                                               (SELECT to_jsonb(r) FROM "\(table.name)" r LIMIT 1) || jsonb_build_object('tenant_id', $1::uuid))
                    RETURNING 1
                    """, binding: b, as: a, in: database)
                #expect(insert.sqlState == "42501", "\(table.name): A inserted a row for B: \(insert)")

                // Update and delete of B's rows touch nothing (or are not permitted at all).
                for statement in [
                    "UPDATE \"\(table.name)\" SET tenant_id = tenant_id WHERE tenant_id = $1 RETURNING 1",
                    "DELETE FROM \"\(table.name)\" WHERE tenant_id = $1 RETURNING 1",
                ] {
                    let result = await Self.attempt(statement, binding: b, as: a, in: database)
                    #expect(result.touchedNothing, "\(table.name): \(statement) as A: \(result)")
                }
                // Moving A's own rows to B is refused.
                let move = await Self.attempt(
                    "UPDATE \"\(table.name)\" SET tenant_id = $1 RETURNING 1", binding: b, as: a, in: database)
                #expect(move.sqlState == "42501", "\(table.name): A moved a row to B: \(move)")

                let bRowsAfter = try await database.withTenant(b) { try await Self.count(table.name, where: "tenant_id = $1", b, in: $0) }
                #expect(bRowsAfter == bRowsBefore, "\(table.name): B's rows changed")
            }
        }
    }

    @Test func withoutATenantNoRowIsVisible() async throws {
        try await withDatabase { database in
            let tenant = try await makeTenant(database)
            try await Self.seed(tenant, in: database)
            for table in try await Self.tenantTables(database) {
                let rows = try await database.client.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \"\(table.name)\""))
                for try await count in rows.decode(Int.self) { #expect(count == 0, "\(table.name)") }
            }
        }
    }
}

extension Result where Success == Int, Failure == PSQLError {
    var sqlState: String? {
        if case .failure(let error) = self { return error.serverInfo?[.sqlState] }
        return nil
    }

    var touchedNothing: Bool {
        switch self {
        case .success(let rows): rows == 0
        case .failure(let error): error.serverInfo?[.sqlState] == "42501"
        }
    }
}
