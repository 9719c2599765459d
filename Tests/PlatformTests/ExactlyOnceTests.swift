import Contracts
import Foundation
import PostgresNIO
import SwitchyardBus
import SwitchyardDatabase
import Testing

@Suite struct ExactlyOnceTests {
    /// The probe's table: outside `public`, so the row-level security suite does not seed it,
    /// yet under the same forced policy.
    static func createProbeTable() async throws {
        try await withDatabase(url: TestEnvironment.ownerURL) { owner in
            for statement in SQLScript.statements(in: """
                CREATE SCHEMA IF NOT EXISTS probe;
                CREATE TABLE IF NOT EXISTS probe.applied_counts (tenant_id uuid PRIMARY KEY, applied bigint NOT NULL);
                ALTER TABLE probe.applied_counts ENABLE ROW LEVEL SECURITY;
                ALTER TABLE probe.applied_counts FORCE ROW LEVEL SECURITY;
                DO $$ BEGIN
                    IF NOT EXISTS (SELECT FROM pg_policies WHERE schemaname = 'probe' AND policyname = 'tenant_isolation') THEN
                        CREATE POLICY tenant_isolation ON probe.applied_counts
                            USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
                            WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
                    END IF;
                END $$;
                GRANT USAGE ON SCHEMA probe TO switchyard_app;
                GRANT SELECT, INSERT, UPDATE ON probe.applied_counts TO switchyard_app;
                """) {
                try await owner.client.query(PostgresQuery(unsafeSQL: statement))
            }
        }
    }

    static func progress(of tenant: UUID, consumer: String, in database: Database) async throws -> (applied: Int, processed: Int) {
        try await database.withTenant(tenant) { tx in
            var applied = 0
            var processed = 0
            for try await count in try await tx.query("SELECT applied FROM probe.applied_counts").decode(Int.self) { applied = count }
            for try await count in try await tx.query("SELECT count(*)::int FROM processed_events WHERE consumer = \(consumer)").decode(Int.self) {
                processed = count
            }
            return (applied, processed)
        }
    }

    @Test func aConsumerKilledMidBurstAppliesEveryEventExactlyOnce() async throws {
        try await Self.createProbeTable()
        try await withDatabase { database in
            let tenant = try await makeTenant(database)
            let consumer = uniqueName("probe")
            let total = 600
            try await withBus { bus in
                for number in 0..<total {
                    try await bus.publish(Envelope(tenantID: tenant, payload: Pinged(number: number)))
                }
            }
            let environment = ["PROBE_TENANT": tenant.uuidString, "PROBE_CONSUMER": consumer, "PROBE_ACK_WAIT_MS": "1500"]

            // Twice: start, let it work through part of the burst, kill it without warning.
            for killAfter in [total / 5, total / 2] {
                let probe = try ChildProcess("bus-probe", environment: environment)
                let reached = try await eventually(timeout: .seconds(60)) {
                    try await Self.progress(of: tenant, consumer: consumer, in: database).applied >= killAfter
                }
                probe.kill()
                #expect(reached, "the probe never applied \(killAfter) events")
            }
            let killedAt = try await Self.progress(of: tenant, consumer: consumer, in: database)
            #expect(killedAt.applied < total, "the burst ended before the second kill; the test proved less than it should")

            let probe = try ChildProcess("bus-probe", environment: environment)
            let finished = try await eventually(timeout: .seconds(90)) {
                try await Self.progress(of: tenant, consumer: consumer, in: database).processed >= total
            }
            #expect(finished)
            let final = try await Self.progress(of: tenant, consumer: consumer, in: database)
            #expect(final.processed == total)
            #expect(final.applied == total)
            #expect(await probe.terminate() == 0, "the probe did not shut down gracefully on SIGTERM")
        }
    }
}
