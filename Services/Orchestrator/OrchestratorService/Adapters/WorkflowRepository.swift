import Contracts
import Foundation
import PostgresNIO
import SwitchyardDatabase

/// Workflows, runs and the steps runs finished, inside the tenant transaction a use case opened.
enum WorkflowRepository {
    static func insert(_ workflow: Workflow, in tx: TenantTransaction) async throws {
        try await tx.execute("""
            INSERT INTO workflows (tenant_id, id, spec, created_at)
            VALUES (\(tx.tenantID), \(workflow.id), \(try json(workflow.spec))::jsonb, \(workflow.createdAt))
            """)
    }

    static func list(in tx: TenantTransaction) async throws -> [Workflow] {
        try await workflows(try await tx.query("SELECT id, spec::text, created_at FROM workflows ORDER BY id DESC LIMIT 500"))
    }

    static func find(_ id: UUID, in tx: TenantTransaction) async throws -> Workflow? {
        try await workflows(try await tx.query("SELECT id, spec::text, created_at FROM workflows WHERE id = \(id)")).first
    }

    static func delete(_ id: UUID, in tx: TenantTransaction) async throws -> Bool {
        for try await _ in try await tx.query("DELETE FROM workflows WHERE id = \(id) RETURNING id") { return true }
        return false
    }

    /// A run as the orchestrator carries it out: its spec as it was started, who pays for it,
    /// and the steps finished so far.
    struct StoredRun {
        var tenantID: UUID
        var run: Run
        var spec: WorkflowSpec
        var apiKeyID: UUID?
        var requestID: String
        var embeddingModel: String
    }

    static func insertRun(id: UUID, call: RunStartCall, spec: WorkflowSpec, in tx: TenantTransaction) async throws -> Date {
        let rows = try await tx.query("""
            INSERT INTO workflow_runs (tenant_id, id, workflow_id, spec, input, api_key_id, request_id, embedding_model)
            VALUES (\(tx.tenantID), \(id), \(call.workflowID), \(try json(spec))::jsonb, \(try json(call.input))::jsonb,
                    \(call.apiKeyID), \(call.requestID), \(call.embeddingModel))
            RETURNING created_at
            """)
        for try await created in rows.decode(Date.self) { return created }
        throw WorkflowStoreError.notStored
    }

    static func run(_ id: UUID, in tx: TenantTransaction) async throws -> StoredRun? {
        try await runs(try await tx.query("SELECT \(unescaped: runColumns) FROM workflow_runs WHERE id = \(id)"), in: tx).first
    }

    /// The latest `limit` runs, newest first, of one workflow when given.
    static func runs(workflow: UUID?, limit: Int, in tx: TenantTransaction) async throws -> [StoredRun] {
        try await runs(try await tx.query("""
            SELECT \(unescaped: runColumns) FROM workflow_runs WHERE \(workflow)::uuid IS NULL OR workflow_id = \(workflow)
            ORDER BY id DESC LIMIT \(Int32(limit))
            """), in: tx)
    }

    private static let runColumns = """
        id, workflow_id, spec::text, input::text, status, api_key_id, request_id, embedding_model, output, error, created_at, finished_at
        """

    /// The runs `rows` hold (`runColumns`), with their steps, read in one more query.
    private static func runs(_ rows: PostgresRowSequence, in tx: TenantTransaction) async throws -> [StoredRun] {
        var runs: [StoredRun] = []
        for try await (id, workflow, spec, input, status, apiKey, requestID, model, output, error, created, finished)
            in rows.decode((UUID, UUID, String, String, String, UUID?, String, String, String?, String?, Date, Date?).self) {
            let run = Run(
                id: id, workflowID: workflow, status: RunStatus(rawValue: status) ?? .failed,
                input: try JSONCoding.decode([String: String].self, from: Data(input.utf8)), steps: [], output: output, error: error,
                createdAt: created, finishedAt: finished)
            runs.append(StoredRun(
                tenantID: tx.tenantID, run: run, spec: try JSONCoding.decode(WorkflowSpec.self, from: Data(spec.utf8)), apiKeyID: apiKey,
                requestID: requestID, embeddingModel: model))
        }
        let steps = try await self.steps(of: runs.map(\.run.id), in: tx)
        for index in runs.indices { runs[index].run.steps = steps[runs[index].run.id] ?? [] }
        return runs
    }

    /// Each run's finished steps, in order.
    private static func steps(of runs: [UUID], in tx: TenantTransaction) async throws -> [UUID: [Run.Step]] {
        guard !runs.isEmpty else { return [:] }
        let rows = try await tx.query("""
            SELECT s.run_id, s.name, s.status, s.output, s.error, s.attempts, e.compensated_at
            FROM workflow_run_steps s
            LEFT JOIN workflow_run_effects e USING (tenant_id, run_id, step_index)
            WHERE s.run_id = ANY(\(runs)) ORDER BY s.run_id, s.step_index
            """)
        var steps: [UUID: [Run.Step]] = [:]
        for try await (run, name, status, output, error, attempts, compensated)
            in rows.decode((UUID, String, String, String?, String?, Int32, Date?).self) {
            steps[run, default: []].append(Run.Step(
                name: name, status: RunStatus(rawValue: status) ?? .failed, output: output, error: error, attempts: Int(attempts),
                compensatedAt: compensated))
        }
        return steps
    }

    /// Something a run's step did that a failed or cancelled run undoes.
    struct Effect: Sendable, Equatable {
        enum Kind: String, Sendable {
            /// Stored the document `resourceID`.
            case document
        }

        var stepIndex: Int
        var kind: Kind
        var resourceID: UUID
    }

    /// Records, before the step acts, the id it acts under: `resourceID`, or the one recorded
    /// for the step before (by an earlier attempt or delivery), which is returned.
    static func recordEffect(run: UUID, _ effect: Effect, in tx: TenantTransaction) async throws -> UUID {
        let rows = try await tx.query("""
            INSERT INTO workflow_run_effects (tenant_id, run_id, step_index, kind, resource_id)
            VALUES (\(tx.tenantID), \(run), \(Int32(effect.stepIndex)), \(effect.kind.rawValue), \(effect.resourceID))
            ON CONFLICT (tenant_id, run_id, step_index) DO UPDATE SET resource_id = workflow_run_effects.resource_id
            RETURNING resource_id
            """)
        for try await id in rows.decode(UUID.self) { return id }
        throw WorkflowStoreError.notStored
    }

    /// The run's effects not undone yet, latest first.
    static func effectsToUndo(of run: UUID, in tx: TenantTransaction) async throws -> [Effect] {
        let rows = try await tx.query("""
            SELECT step_index, kind, resource_id FROM workflow_run_effects
            WHERE run_id = \(run) AND compensated_at IS NULL ORDER BY step_index DESC
            """)
        var effects: [Effect] = []
        for try await (index, kind, resource) in rows.decode((Int32, String, UUID).self) {
            guard let kind = Effect.Kind(rawValue: kind) else { throw WorkflowStoreError.unknownEffect(kind) }
            effects.append(Effect(stepIndex: Int(index), kind: kind, resourceID: resource))
        }
        return effects
    }

    static func markCompensated(run: UUID, stepIndex: Int, in tx: TenantTransaction) async throws {
        try await tx.execute("""
            UPDATE workflow_run_effects SET compensated_at = now()
            WHERE run_id = \(run) AND step_index = \(Int32(stepIndex)) AND compensated_at IS NULL
            """)
    }

    /// Records a finished step, once: false when it had been recorded (by another delivery).
    static func recordStep(run: UUID, index: Int, _ step: Run.Step, in tx: TenantTransaction) async throws -> Bool {
        let rows = try await tx.query("""
            INSERT INTO workflow_run_steps (tenant_id, run_id, step_index, name, status, output, error, attempts)
            VALUES (\(tx.tenantID), \(run), \(Int32(index)), \(step.name), \(step.status.rawValue), \(step.output), \(step.error), \(Int32(step.attempts)))
            ON CONFLICT DO NOTHING RETURNING step_index
            """)
        for try await _ in rows { return true }
        return false
    }

    static func markRunning(_ run: UUID, in tx: TenantTransaction) async throws {
        try await tx.execute("UPDATE workflow_runs SET status = 'running' WHERE id = \(run) AND status = 'queued'")
    }

    /// The run's status now; nil when there is no such run.
    static func status(of run: UUID, in tx: TenantTransaction) async throws -> RunStatus? {
        for try await status in try await tx.query("SELECT status FROM workflow_runs WHERE id = \(run)").decode(String.self) {
            return RunStatus(rawValue: status)
        }
        return nil
    }

    /// Ends the run, once: false when it had ended.
    static func finish(_ run: UUID, status: RunStatus, output: String?, error: String?, in tx: TenantTransaction) async throws -> Bool {
        let rows = try await tx.query("""
            UPDATE workflow_runs SET status = \(status.rawValue), output = \(output), error = \(error), finished_at = now()
            WHERE id = \(run) AND status IN ('queued', 'running') RETURNING id
            """)
        for try await _ in rows { return true }
        return false
    }

    private static func workflows(_ rows: PostgresRowSequence) async throws -> [Workflow] {
        var workflows: [Workflow] = []
        for try await (id, spec, created) in rows.decode((UUID, String, Date).self) {
            workflows.append(Workflow(id: id, spec: try JSONCoding.decode(WorkflowSpec.self, from: Data(spec.utf8)), createdAt: created))
        }
        return workflows
    }

    private static func json(_ value: some Encodable) throws -> String {
        String(decoding: try JSONCoding.encode(value), as: UTF8.self)
    }
}

enum WorkflowStoreError: Error {
    case notStored
    /// Written by a newer orchestrator: this one cannot undo it.
    case unknownEffect(String)
}
