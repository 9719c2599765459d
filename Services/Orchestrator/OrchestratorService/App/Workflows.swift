import Contracts
import Foundation
import Logging
import SwitchyardBus
import SwitchyardDatabase

/// A tenant's workflows, and the runs started of them: a run is stored and announced
/// (`run.requested`) in one transaction that commits once the announcement is published, as a
/// document is, and `RunExecution` carries it out.
struct Workflows: Sendable {
    let database: Database
    let bus: Bus
    let logger: Logger

    func create(_ call: WorkflowCreateCall) async throws -> Workflow {
        do throws(InvalidWorkflow) { try call.spec.check() } catch {
            throw ServiceFault(code: "invalid_value", message: error.message, param: error.param)
        }
        let workflow = Workflow(id: .timeOrdered(), spec: call.spec, createdAt: Date().roundedToMilliseconds)
        try await database.withTenant(call.tenantID) { try await WorkflowRepository.insert(workflow, in: $0) }
        return workflow
    }

    func list(_ call: TenantCall) async throws -> ListOf<Workflow> {
        ListOf(try await database.withTenant(call.tenantID) { try await WorkflowRepository.list(in: $0) })
    }

    func show(_ call: WorkflowCall) async throws -> Workflow {
        guard let workflow = try await database.withTenant(call.tenantID, { try await WorkflowRepository.find(call.workflowID, in: $0) }) else {
            throw Self.notFound("workflow")
        }
        return workflow
    }

    /// Its runs keep their own copy of the spec: those under way finish as they began.
    func delete(_ call: WorkflowCall) async throws -> WorkflowDeleted {
        guard try await database.withTenant(call.tenantID, { try await WorkflowRepository.delete(call.workflowID, in: $0) }) else {
            throw Self.notFound("workflow")
        }
        return WorkflowDeleted(id: call.workflowID)
    }

    func start(_ call: RunStartCall) async throws -> Run {
        let id = UUID.timeOrdered()
        return try await database.withTenant(call.tenantID) { tx in
            guard let workflow = try await WorkflowRepository.find(call.workflowID, in: tx) else { throw Self.notFound("workflow") }
            do throws(InvalidWorkflow) { try workflow.spec.check(input: call.input) } catch {
                throw ServiceFault(code: "invalid_value", message: error.message, param: error.param)
            }
            let created = try await WorkflowRepository.insertRun(id: id, call: call, spec: workflow.spec, in: tx)
            do {
                _ = try await bus.publish(Envelope(tenantID: call.tenantID, payload: RunRequested(runID: id, workflowID: call.workflowID)))
            } catch {
                throw ServiceFault(code: "unavailable", message: "The run could not be queued; please retry.")
            }
            return Run(id: id, workflowID: call.workflowID, status: .queued, input: call.input, steps: [], output: nil, error: nil,
                       createdAt: created, finishedAt: nil)
        }
    }

    func showRun(_ call: RunCall) async throws -> Run {
        guard let stored = try await database.withTenant(call.tenantID, { try await WorkflowRepository.run(call.runID, in: $0) }) else {
            throw Self.notFound("run")
        }
        return stored.run
    }

    /// Stops a run before its next step (a step under way finishes) and announces it;
    /// `invalid_state` for a run that has ended.
    func cancel(_ call: RunCall) async throws -> Run {
        let stored = try await database.withTenant(call.tenantID) { tx in
            guard let stored = try await WorkflowRepository.run(call.runID, in: tx) else { throw Self.notFound("run") }
            guard try await WorkflowRepository.finish(call.runID, status: .cancelled, output: nil, error: "Cancelled.", in: tx) else {
                throw ServiceFault(code: "invalid_state", message: "The run has ended (\(stored.run.status.rawValue)); it cannot be cancelled.")
            }
            return try await WorkflowRepository.run(call.runID, in: tx) ?? stored
        }
        let finished = RunFinished(runID: call.runID, workflowID: stored.run.workflowID, status: .cancelled, error: "Cancelled.")
        do {
            _ = try await bus.publish(Envelope(id: .derived(from: "run.finished:\(call.runID)"), tenantID: call.tenantID, payload: finished))
        } catch {
            // The run is cancelled either way; only the announcement is missing.
            logger.error("run.finished not published for a cancelled run", metadata: ["run": "\(call.runID)", "error": "\(error)"])
        }
        return stored.run
    }

    func listRuns(_ call: RunListCall) async throws -> ListOf<Run> {
        ListOf(try await database.withTenant(call.tenantID) { tx in
            try await WorkflowRepository.runs(workflow: call.workflowID, limit: min(max(call.limit, 1), 100), in: tx).map(\.run)
        })
    }

    static func notFound(_ what: String) -> ServiceFault { ServiceFault(code: "not_found", message: "No such \(what).", param: what) }
}
