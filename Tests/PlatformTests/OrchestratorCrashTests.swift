import Contracts
import Foundation
import IngestionService
import PostgresNIO
import RouterService
import ServiceLifecycle
import SwitchyardBus
import SwitchyardDatabase
import Testing

/// The orchestrator executable killed with SIGKILL while it carries out runs: every run still
/// ends, each step recorded once and everything a failed run stored undone, by the replica
/// started after it.
@Suite struct OrchestratorCrashTests {
    static func count(_ sql: String, _ tenant: UUID, _ database: Database) async throws -> Int {
        try await database.withTenant(tenant) { tx in
            for try await count in try await tx.query(PostgresQuery(unsafeSQL: sql)).decode(Int.self) { return count }
            return 0
        }
    }

    static let finished = "SELECT count(*)::int FROM workflow_runs WHERE status IN ('succeeded', 'failed')"

    @Test func runsUnderWayWhenTheOrchestratorIsKilledAllFinish() async throws {
        // Three chat steps each, the later ones reading the earlier; the slow model writes 20
        // tokens a second, so a run takes a while and the kill finds some between steps.
        let step = { (name: String, reads: String) in
            WorkflowStep(name: name, type: .chat, model: "slow-chat", messages: [WorkflowMessage(role: "user", content: "Go on: \(reads)")], maxTokens: 4)
        }
        let spec = WorkflowSpec(name: "chain", inputs: ["start"], steps: [
            step("one", "{{input.start}}"), step("two", "{{steps.one.output}}"), step("three", "{{steps.two.output}}"),
        ])
        let total = 60
        try await Self.killTheOrchestratorWithRunsUnderWay(spec, total: total, killWhen: ("SELECT count(*)::int FROM workflow_run_steps", total)) { (tenant, database) async throws in
            #expect(try await Self.count("SELECT count(*)::int FROM workflow_runs WHERE status = 'succeeded'", tenant, database) == total)
            // Three steps a run, each once.
            #expect(try await Self.count("SELECT count(*)::int FROM workflow_run_steps", tenant, database) == 3 * total)
        }
    }

    /// Runs that store a document, then fail: killed between storing and undoing, every run
    /// still ends failed with its document deleted, and no document is stored twice.
    @Test func documentsOfFailedRunsKilledMidwayAreAllDeleted() async throws {
        let spec = WorkflowSpec(name: "store then fail", inputs: ["start"], steps: [
            WorkflowStep(name: "store", type: .document, document: DocumentUpload(name: "note {{input.start}}", text: "Stored by {{input.start}}.")),
            WorkflowStep(name: "wait", type: .chat, model: "slow-chat", messages: [WorkflowMessage(role: "user", content: "wait")], maxTokens: 4),
            // Refused: an embedding model does not chat.
            WorkflowStep(name: "fail", type: .chat, model: "local-embedding", messages: [WorkflowMessage(role: "user", content: "x")], maxTokens: 4),
        ])
        let total = 60
        try await Self.killTheOrchestratorWithRunsUnderWay(
            spec, total: total, killWhen: ("SELECT count(*)::int FROM workflow_run_effects", total / 3)
        ) { (tenant, database) async throws in
            #expect(try await Self.count("SELECT count(*)::int FROM workflow_runs WHERE status = 'failed'", tenant, database) == total)
            #expect(try await Self.count("SELECT count(*)::int FROM workflow_run_effects", tenant, database) == total)
            #expect(try await Self.count("SELECT count(*)::int FROM workflow_run_effects WHERE compensated_at IS NULL", tenant, database) == 0)
            #expect(try await Self.count("SELECT count(*)::int FROM documents", tenant, database) == 0)
        }
    }

    /// Stores `total` runs of `spec` and announces them, starts the orchestrator executable, kills
    /// it with SIGKILL once `killWhen`'s query counts at least its number, starts another and
    /// waits for every run to end; then `check`s what they left.
    static func killTheOrchestratorWithRunsUnderWay(
        _ spec: WorkflowSpec, total: Int, killWhen: (query: String, count: Int), check: (UUID, Database) async throws -> Void
    ) async throws {
        let (server, natsProcess) = try await PrivateNATSServer.started()
        defer {
            natsProcess.kill()
            try? FileManager.default.removeItem(at: server.directory)
        }
        try await withDatabase { database in
            let tenant = try await makeTenant(database)
            try await withBus(url: server.url) { bus in
                let router = routerServices(bus: bus, catalogStore: CatalogStore(gatewayTestCatalog, path: "(test catalog)"), database: database)
                let ingestion = IngestionApp.services(
                    bus: bus, database: database, consumerName: uniqueName("ingestion"),
                    filterSubject: Subject.event(tenant: tenant, type: DocumentUploaded.eventType), logger: TestEnvironment.logger)
                try await withRunning(router + ingestion) {
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
                                VALUES (\(tenant), \(run), \(workflow), \(specJSON)::jsonb, \("{\"start\": \"run \(index)\"}")::jsonb,
                                        \("req_run_\(index)"), 'local-embedding')
                                """)
                        }
                        _ = try await bus.publish(Envelope(tenantID: tenant, payload: RunRequested(runID: run, workflowID: workflow)))
                    }
                    let environment = [
                        "NATS_URL": server.url, "SWITCHYARD_ORCHESTRATOR_OPS_PORT": "0", "SWITCHYARD_LOG_LEVEL": "warning",
                        "SWITCHYARD_ORCHESTRATOR_ACK_WAIT": "3s",
                    ]
                    let first = try ChildProcess("orchestrator", environment: environment)
                    let reached = try await eventually(timeout: .seconds(60)) { try await count(killWhen.query, tenant, database) >= killWhen.count }
                    first.kill()
                    #expect(reached, "the orchestrator never got as far as \(killWhen)")
                    let atKill = try await count(finished, tenant, database)
                    #expect(atKill < total, "every run finished before the kill; the test proved less than it should")

                    let second = try ChildProcess("orchestrator", environment: environment)
                    let done = try await eventually(timeout: .seconds(120)) { try await count(finished, tenant, database) == total }
                    let ended = try await count(finished, tenant, database)
                    #expect(done, "\(ended) of \(total) runs finished")
                    try await check(tenant, database)
                    #expect(await second.terminate() == 0, "the orchestrator did not shut down gracefully on SIGTERM")
                }
            }
        }
    }
}
