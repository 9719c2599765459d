import Contracts
import Foundation
import Hummingbird

/// `/v1/workflows` and `/v1/runs`: the caller's tenant's workflows, kept by the orchestrator,
/// and their runs. A run's model calls are the caller's, under their quotas and budgets.
struct WorkflowRoutes: Sendable {
    let orchestrator: OrchestratorClient
    let calls: ModelCalls
    let body: JSONBody
    /// What search steps embed their queries with.
    let embeddingModel: String

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

    /// 202: the run is queued. It takes the caller's limits now, once for all its steps: their
    /// calls' most (each step's texts filled with the input and the most of the outputs before
    /// it that it reads) at each model's price against budgets, kept until the budget check
    /// replaces it with the ledger's, as an upload's is; so runs started together never spend
    /// past a budget.
    func start(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        try caller.require(.workflowsRun)
        let run = try await body.decode(RunRequest.self, from: request)
        let workflow = try await workflow(context, caller)
        do throws(InvalidWorkflow) { try workflow.spec.check(input: run.input) } catch { throw APIError.invalid(error.param, error.message) }
        let planned = workflow.spec.bounds(input: run.input).map { bound in
            let model = bound.model ?? embeddingModel
            return ModelCalls.PlannedCall(
                model: model, prompt: (bound.promptBytes + 3) / 4, promptAtMost: bound.promptBytes, completionLimit: bound.completionTokens)
        }
        for call in planned where !caller.may(use: call.model) {
            throw APIError(.permission, "This key may not use `\(call.model)`, which the workflow calls.", code: "model_not_allowed", status: .forbidden)
        }
        let admission = try await calls.admit(caller, requestID: context.requestID, calls: planned)
        let started: Run
        do {
            let call = RunStartCall(
                tenantID: try caller.requireTenant(), apiKeyID: caller.apiKeyID, requestID: context.requestID, workflowID: workflow.id,
                input: run.input, embeddingModel: embeddingModel)
            started = try await orchestrator.request(OrchestratorVerb.startRun, call, correlationID: context.requestID)
            await calls.settle(admission, caller, actualTokens: nil, actualCostMicros: nil)
        } catch {
            await calls.settle(admission, caller, actualTokens: 0, actualCostMicros: 0)
            throw error
        }
        var response = try Response.json(started, status: .accepted)
        InferenceRoutes.add(admission?.headers ?? [], to: &response.headers)
        return response
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
