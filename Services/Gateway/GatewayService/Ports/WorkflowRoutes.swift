import Contracts
import Foundation
import Hummingbird

/// `/v1/workflows` and `/v1/runs`: the caller's tenant's workflows, kept by the orchestrator,
/// and their runs. A run's model calls are the caller's, under their quotas and budgets.
struct WorkflowRoutes: Sendable {
    let orchestrator: OrchestratorClient
    let runs: WorkflowCalls
    let body: JSONBody

    func addRoutes(to group: RouterGroup<GatewayContext>) {
        group.post("workflows", use: create)
        group.get("workflows", use: list)
        group.get("workflows/:workflow", use: show)
        group.delete("workflows/:workflow", use: delete)
        group.post("workflows/:workflow/runs", use: start)
        group.get("runs", use: listRuns)
        group.get("runs/:run", use: showRun)
        group.post("runs/:run/cancel", use: cancelRun)
    }

    func create(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        try caller.require(.workflowsWrite)
        let spec = try await body.decode(WorkflowSpec.self, from: request)
        let call = WorkflowCreateCall(tenantID: try caller.requireTenant(), spec: spec)
        let workflow: Workflow = try await orchestrator.request(OrchestratorVerb.createWorkflow, call, correlationID: context.requestID)
        return try Response.json(workflow, status: .created)
    }

    func list(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        try caller.require(.workflowsRead)
        let workflows: ListOf<Workflow> = try await orchestrator.request(
            OrchestratorVerb.listWorkflows, TenantCall(tenantID: try caller.requireTenant()), correlationID: context.requestID)
        return try Response.json(workflows)
    }

    func show(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        try caller.require(.workflowsRead)
        return try Response.json(try await workflow(context, caller))
    }

    func delete(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        try caller.require(.workflowsWrite)
        let call = WorkflowCall(tenantID: try caller.requireTenant(), workflowID: try Self.id(context, "workflow"))
        let deleted: WorkflowDeleted = try await orchestrator.request(OrchestratorVerb.deleteWorkflow, call, correlationID: context.requestID)
        return try Response.json(deleted)
    }

    /// 202: the run is queued, having taken the caller's limits (`WorkflowCalls.start`).
    func start(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        try caller.require(.workflowsRun)
        let run = try await body.decode(RunRequest.self, from: request)
        let (started, admission) = try await runs.start(try await workflow(context, caller), input: run.input, caller: caller, requestID: context.requestID)
        return try InferenceRoutes.json(started, status: .accepted, admission)
    }

    func showRun(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        try caller.require(.workflowsRead)
        let call = RunCall(tenantID: try caller.requireTenant(), runID: try Self.id(context, "run"))
        let run: Run = try await orchestrator.request(OrchestratorVerb.showRun, call, correlationID: context.requestID)
        return try Response.json(run)
    }

    /// Stops the run before its next step; 409 for a run that has ended.
    func cancelRun(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        try caller.require(.workflowsRun)
        let call = RunCall(tenantID: try caller.requireTenant(), runID: try Self.id(context, "run"))
        let run: Run = try await orchestrator.request(OrchestratorVerb.cancelRun, call, correlationID: context.requestID)
        return try Response.json(run)
    }

    /// The latest `limit` (1–100, default 20) runs, newest first; of one workflow with `workflow_id`.
    func listRuns(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        try caller.require(.workflowsRead)
        let page = PageQuery(request: request)
        let call = RunListCall(tenantID: try caller.requireTenant(), workflowID: try page.id("workflow_id", of: "workflow"), limit: try page.limit)
        let runs: ListOf<Run> = try await orchestrator.request(OrchestratorVerb.listRuns, call, correlationID: context.requestID)
        return try Response.json(runs)
    }

    private func workflow(_ context: GatewayContext, _ caller: Caller) async throws -> Workflow {
        let call = WorkflowCall(tenantID: try caller.requireTenant(), workflowID: try Self.id(context, "workflow"))
        return try await orchestrator.request(OrchestratorVerb.showWorkflow, call, correlationID: context.requestID)
    }

    /// A path's id; one that is not an id names nothing.
    private static func id(_ context: GatewayContext, _ name: String) throws(APIError) -> UUID {
        guard let text = context.parameters.get(name), let id = UUID(uuidString: text) else { throw APIError.notFound(name) }
        return id
    }
}
