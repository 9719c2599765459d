import Contracts
import Foundation
import PostgresNIO
import RouterService
import SwitchyardBus
import SwitchyardDatabase
import Testing

/// The orchestrator executable killed with SIGKILL while it carries out runs: every run still
/// ends, each step recorded once, by the replica started after it.
@Suite struct OrchestratorCrashTests {
    static func count(_ sql: String, _ tenant: UUID, _ database: Database) async throws -> Int {
        try await database.withTenant(tenant) { tx in
            for try await count in try await tx.query(PostgresQuery(unsafeSQL: sql)).decode(Int.self) { return count }
            return 0
        }
    }

    @Test func runsUnderWayWhenTheOrchestratorIsKilledAllFinish() async throws {
        let (server, natsProcess) = try await PrivateNATSServer.started()
        defer {
            natsProcess.kill()
            try? FileManager.default.removeItem(at: server.directory)
        }
        let total = 60
        try await withDatabase { database in
            let tenant = try await makeTenant(database)
            try await withBus(url: server.url) { bus in
                let router = routerServices(bus: bus, catalogStore: CatalogStore(gatewayTestCatalog, path: "(test catalog)"), database: database)
                try await withRunning(router) {
                    // Three chat steps each, the later ones reading the earlier; the slow model
                    // writes 20 tokens a second, so a run takes a while and the kill finds some
                    // between steps.
                    let step = { (name: String, reads: String) in
                        WorkflowStep(name: name, type: .chat, model: "slow-chat", messages: [WorkflowMessage(role: "user", content: "Go on: \(reads)")], maxTokens: 4)
                    }
                    let spec = WorkflowSpec(name: "chain", inputs: ["start"], steps: [
                        step("one", "{{input.start}}"), step("two", "{{steps.one.output}}"), step("three", "{{steps.two.output}}"),
                    ])
                    let specJSON = String(decoding: try JSONCoding.encode(spec), as: UTF8.self)
                    let workflow = UUID.timeOrdered()
                    try await database.withTenant(tenant) { tx in
                        try await tx.execute("INSERT INTO workflows (tenant_id, id, spec) VALUES (\(tenant), \(workflow), \(specJSON)::jsonb)")
                    }
                    // Stored and announced as `svc.orchestrator.start_run` does, before the first
                    // replica starts, so that it is killed with runs in hand.
                    for index in 0..<total {
                        let run = UUID.timeOrdered()
                        try await database.withTenant(tenant) { tx in
                            try await tx.execute("""
                                INSERT INTO workflow_runs (tenant_id, id, workflow_id, spec, input, request_id, embedding_model)
                                VALUES (\(tenant), \(run), \(workflow), \(specJSON)::jsonb, '{"start": "begin"}', \("req_run_\(index)"), 'local-embedding')
                                """)
                        }
                        _ = try await bus.publish(Envelope(tenantID: tenant, payload: RunRequested(runID: run, workflowID: workflow)))
                    }
                    let finished = "SELECT count(*)::int FROM workflow_runs WHERE status IN ('succeeded', 'failed')"
                    let environment = [
                        "NATS_URL": server.url, "SWITCHYARD_ORCHESTRATOR_OPS_PORT": "0", "SWITCHYARD_LOG_LEVEL": "warning",
                        "SWITCHYARD_ORCHESTRATOR_ACK_WAIT": "3s",
                    ]
                    let first = try ChildProcess("orchestrator", environment: environment)
                    let reached = try await eventually(timeout: .seconds(60)) {
                        try await Self.count("SELECT count(*)::int FROM workflow_run_steps", tenant, database) >= total
                    }
                    first.kill()
                    #expect(reached, "the orchestrator never finished \(total) steps")
                    let atKill = try await Self.count(finished, tenant, database)
                    #expect(atKill < total, "every run finished before the kill; the test proved less than it should")

                    let second = try ChildProcess("orchestrator", environment: environment)
                    let done = try await eventually(timeout: .seconds(120)) { try await Self.count(finished, tenant, database) == total }
                    let count = try await Self.count(finished, tenant, database)
                    #expect(done, "\(count) of \(total) runs finished")
                    #expect(try await Self.count("SELECT count(*)::int FROM workflow_runs WHERE status = 'succeeded'", tenant, database) == total)
                    // Three steps a run, each once.
                    #expect(try await Self.count("SELECT count(*)::int FROM workflow_run_steps", tenant, database) == 3 * total)
                    #expect(await second.terminate() == 0, "the orchestrator did not shut down gracefully on SIGTERM")
                }
            }
        }
    }
}
