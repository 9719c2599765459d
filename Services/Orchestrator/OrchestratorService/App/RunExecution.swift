import Contracts
import Foundation
import Logging
import Metrics
import SwitchyardBus
import SwitchyardDatabase

/// Carries out a run: each step in order, its texts filled in with the run's input and earlier
/// outputs, retried while its call fails in a way that may pass, and recorded when it ends. A
/// run taken up again (after a crash, or a second delivery) goes on from the first step not
/// recorded, so a finished step is not called again.
///
/// A run is a saga: what its steps store is recorded (`WorkflowRepository.recordEffect`)
/// before they store it, and a run that fails or is cancelled undoes it, latest first, before it
/// ends — so a run leaves all its documents, or none.
struct RunExecution: Sendable {
    let database: Database
    let bus: Bus
    let calls: StepCalls
    /// Waits between a step's attempts, the first after one failure.
    var retryDelays: [Duration] = [.seconds(1), .seconds(3), .seconds(9), .seconds(27), .seconds(60)]

    enum Outcome: Equatable {
        case finished(RunStatus)
        /// Finished before (by another delivery).
        case nothingToDo
        /// No such run: not committed yet, or never.
        case notStored
    }

    /// Throws when the run's progress cannot be recorded (the database is unavailable): the
    /// run is taken up again later from the last step recorded.
    func carryOut(_ event: Envelope<RunRequested>) async throws -> Outcome {
        let tenant = event.tenantID
        let id = event.payload.runID
        guard let stored = try await database.withTenant(tenant, { try await WorkflowRepository.run(id, in: $0) }) else { return .notStored }
        guard !stored.run.status.isFinal else { return try await undoIfCancelled(stored, status: stored.run.status) }
        try await database.withTenant(tenant) { try await WorkflowRepository.markRunning(id, in: $0) }

        let spec = stored.spec
        let bounds = spec.outputBytesAtMost
        var outputs: [String: String] = [:]
        for (step, recorded) in zip(spec.steps, stored.run.steps) { outputs[step.name] = recorded.output }
        var last: String?
        for (index, step) in spec.steps.enumerated() {
            if index < stored.run.steps.count {
                let recorded = stored.run.steps[index]
                guard recorded.status == .succeeded else {
                    return try await fail(event, stored, error: "Step \(step.name) failed: \(recorded.error ?? "")")
                }
                last = recorded.output
                continue
            }
            // Cancelled meanwhile (or ended by another delivery): no further step is called.
            let status = try await database.withTenant(tenant) { try await WorkflowRepository.status(of: id, in: $0) }
            guard let status, !status.isFinal else { return try await undoIfCancelled(stored, status: status) }
            var effect: UUID?
            if step.type == .document {
                let planned = WorkflowRepository.Effect(stepIndex: index, kind: .document, resourceID: .timeOrdered())
                effect = try await database.withTenant(tenant) { try await WorkflowRepository.recordEffect(run: id, planned, in: $0) }
            }
            let result = await attempt(step, index: index, run: stored, outputs: outputs, bounds: bounds, effect: effect)
            let recorded = try await database.withTenant(tenant) { try await WorkflowRepository.recordStep(run: id, index: index, result, in: $0) }
            // Another delivery recorded this step first: it carries the run on.
            guard recorded else { return .nothingToDo }
            guard result.status == .succeeded else {
                return try await fail(event, stored, error: "Step \(step.name) failed: \(result.error ?? "")")
            }
            outputs[step.name] = result.output
            last = result.output
        }
        let outcome = try await finish(event, .succeeded, output: last, error: nil)
        guard outcome == .nothingToDo else { return outcome }
        // Cancelled after its last step: what it stored is undone all the same.
        let status = try await database.withTenant(tenant) { try await WorkflowRepository.status(of: id, in: $0) }
        return try await undoIfCancelled(stored, status: status)
    }

    /// For a run found ended: a cancelled run's steps are undone (the delivery carrying it out
    /// may have been stopped before it had undone everything); one that ended otherwise is left as
    /// it is.
    private func undoIfCancelled(_ run: WorkflowRepository.StoredRun, status: RunStatus?) async throws -> Outcome {
        if status == .cancelled { try await compensate(run) }
        return .nothingToDo
    }

    /// One step, with its retries: succeeded with its output, or failed with the reason. A
    /// `document` step stores its document under `effect`, the id recorded for it.
    func attempt(
        _ step: WorkflowStep, index: Int, run: WorkflowRepository.StoredRun, outputs: [String: String], bounds: [String: Int], effect: UUID?
    ) async -> Run.Step {
        let fill = { (text: String) in WorkflowTemplate.fill(text, input: run.run.input, outputs: outputs, outputBytesAtMost: bounds) }
        // Each step's calls are recorded under their own id, the same for every attempt: a call
        // the router answered before a retry is charged once.
        let requestID = "\(run.requestID)-\(step.name)"
        let attempts = 1 + (step.retries ?? 2)
        var failure = StepFailure.unavailable("not attempted")
        for attempt in 1...attempts {
            do throws(StepFailure) {
                let output: String
                switch step.type {
                case .chat:
                    let messages = (step.messages ?? []).map { ChatMessage(role: $0.role, content: .text(fill($0.content))) }
                    let completion = ChatCompletionRequest(model: step.model ?? "", messages: messages, maxTokens: step.maxTokens)
                    output = try await calls.chat(completion, tenant: run.tenantID, apiKey: run.apiKeyID, requestID: requestID)
                case .search:
                    let search = SearchRequest(
                        query: fill(step.query ?? ""), limit: step.limit ?? WorkflowTemplate.defaultSearchLimit,
                        filter: step.filter.map { WorkflowTemplate.labels($0, filling: fill) })
                    let call = SearchCall(tenantID: run.tenantID, apiKeyID: run.apiKeyID, requestID: requestID, embeddingModel: run.embeddingModel, search: search)
                    output = WorkflowTemplate.searchOutput(try await calls.search(call))
                case .document:
                    let upload = WorkflowTemplate.document(step.document ?? DocumentUpload(name: ""), filling: fill)
                    let call = DocumentCreateCall(
                        tenantID: run.tenantID, apiKeyID: run.apiKeyID, requestID: requestID, embeddingModel: run.embeddingModel,
                        upload: upload, documentID: effect)
                    // As the API shows a document's id.
                    output = try await calls.storeIndexed(call).id.uuidString
                }
                return Run.Step(name: step.name, status: .succeeded, output: output, error: nil, attempts: attempt)
            } catch {
                failure = error
                if error.isFinal { return Run.Step(name: step.name, status: .failed, output: nil, error: error.description, attempts: attempt) }
                if attempt < attempts { try? await Task.sleep(for: retryDelays[min(attempt - 1, retryDelays.count - 1)]) }
            }
        }
        return Run.Step(name: step.name, status: .failed, output: nil, error: failure.description, attempts: attempts)
    }

    /// Undoes what the run's steps stored, then ends it `failed`.
    private func fail(_ event: Envelope<RunRequested>, _ run: WorkflowRepository.StoredRun, error: String) async throws -> Outcome {
        try await compensate(run)
        return try await finish(event, .failed, output: nil, error: error)
    }

    /// Undoes what the run's steps stored (or may have: a call whose answer was lost), latest
    /// first, recording each undo. Throws when one cannot be done now: the run is taken up
    /// again later, and ends only once everything is undone.
    func compensate(_ run: WorkflowRepository.StoredRun) async throws {
        let id = run.run.id
        let effects = try await database.withTenant(run.tenantID) { try await WorkflowRepository.effectsToUndo(of: id, in: $0) }
        for effect in effects {
            switch effect.kind {
            case .document:
                let call = DocumentCall(tenantID: run.tenantID, documentID: effect.resourceID)
                let deleted: Bool
                do {
                    deleted = try await calls.deleteDocument(call, requestID: "\(run.requestID)-undo-\(effect.stepIndex)")
                } catch {
                    Self.countCompensation("failed")
                    throw error
                }
                // `gone`: never stored (its call failed before), or deleted by the tenant.
                Self.countCompensation(deleted ? "deleted" : "gone")
            }
            try await database.withTenant(run.tenantID) { try await WorkflowRepository.markCompensated(run: id, stepIndex: effect.stepIndex, in: $0) }
        }
    }

    /// `switchyard_orchestrator_compensations_total{outcome}`: a run's undone effects; `failed`
    /// ones are tried again later, and a rising count means runs cannot end.
    private static func countCompensation(_ outcome: String) {
        Counter(label: "switchyard_orchestrator_compensations_total", dimensions: [("outcome", outcome)]).increment()
    }

    private func finish(_ event: Envelope<RunRequested>, _ status: RunStatus, output: String?, error: String?) async throws -> Outcome {
        let ended = try await database.withTenant(event.tenantID) {
            try await WorkflowRepository.finish(event.payload.runID, status: status, output: output, error: error, in: $0)
        }
        guard ended else { return .nothingToDo }
        let finished = RunFinished(runID: event.payload.runID, workflowID: event.payload.workflowID, status: status, error: error)
        _ = try await bus.publish(Envelope(
            id: .derived(from: "run.finished:\(event.payload.runID)"), tenantID: event.tenantID, causationID: event.id.uuidString.lowercased(),
            payload: finished))
        return .finished(status)
    }
}
