import Contracts
import Foundation

/// Workflow runs for one caller, under the caller's quotas and budgets like any model call.
struct WorkflowCalls: Sendable {
    let orchestrator: OrchestratorClient
    /// Whose quotas and budgets runs take.
    let calls: ModelCalls
    /// What search steps embed their queries with.
    let embeddingModel: String

    /// Queues a run. It takes the caller's limits now, once for all its steps: their calls'
    /// most (each step's texts filled with the input and the most of the outputs before it that
    /// it reads) at each model's price against budgets, kept until the budget check replaces it
    /// with the ledger's, as an upload's is; so runs started together never spend past a budget.
    func start(_ workflow: Workflow, input: [String: String], caller: Caller, requestID: String) async throws -> (Run, Admission?) {
        let tenant = try caller.requireTenant()
        do throws(InvalidWorkflow) { try workflow.spec.check(input: input) } catch { throw APIError.invalid(error.param, error.message) }
        let planned = workflow.spec.bounds(input: input).map { bound in
            ModelCalls.PlannedCall(
                model: bound.model ?? embeddingModel, prompt: (bound.promptBytes + 3) / 4, promptAtMost: bound.promptBytes,
                completionLimit: bound.completionTokens)
        }
        for call in planned { try caller.requireModel(call.model, "which the workflow calls") }
        let admission = try await calls.admit(caller, requestID: requestID, calls: planned)
        let run = try await calls.settling(admission, caller) {
            let call = RunStartCall(
                tenantID: tenant, apiKeyID: caller.apiKeyID, requestID: requestID, workflowID: workflow.id, input: input,
                embeddingModel: embeddingModel)
            let run: Run = try await orchestrator.request(OrchestratorVerb.startRun, call, correlationID: requestID)
            return (run, ModelCalls.Used.later)
        }
        return (run, admission)
    }
}
