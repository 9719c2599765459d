import Contracts
import Foundation
import Logging
import Metrics
import SwitchyardBus

/// The orchestrator's ports: the durable consumer of `run.requested`, and the verbs of
/// `svc.orchestrator.*` (`OrchestratorVerb`) the gateway calls.
struct OrchestratorPorts {
    let bus: Bus
    let workflows: Workflows
    let execution: RunExecution
    let config: OrchestratorConfig
    let consumerName: String
    let logger: Logger

    /// Shared by every orchestrator replica, so each run is carried out by one at a time; a
    /// replica that dies leaves its runs to another, which goes on from their last step recorded.
    func runConsumer(filterSubject: String = Subject.events(ofType: RunRequested.eventType)) -> DurableConsumer {
        let spec = ConsumerSpec.longWork(name: consumerName, filterSubject: filterSubject, ackWait: config.ackWait, inFlight: 8)
        let maxDeliver = spec.maxDeliver
        return DurableConsumer(bus: bus, spec: spec, logger: logger) { delivery in await handle(delivery, maxDeliver: maxDeliver) }
    }

    func handle(_ delivery: Delivery, maxDeliver: Int) async -> HandlerOutcome {
        let event: Envelope<RunRequested>
        do { event = try delivery.decode(RunRequested.self) } catch { return .poison(reason: "unreadable run event: \(error)") }
        do {
            switch try await execution.carryOut(event) {
            case .finished(let status):
                delivery.logger.info("run finished", metadata: ["run": "\(event.payload.runID)", "status": "\(status.rawValue)"])
                Counter(label: "switchyard_orchestrator_runs_total", dimensions: [("status", status.rawValue)]).increment()
            case .nothingToDo:
                break
            case .notStored:
                return .awaitingCommit(since: event.occurredAt, attempt: delivery.attempt, maxDeliver: maxDeliver)
            }
            return .done
        } catch {
            // Its progress could not be recorded: taken up again later from its last step.
            delivery.logger.warning("run not carried on yet", metadata: ["run": "\(event.payload.runID)", "error": "\(error)"])
            return .retry(after: .seconds(min(300, 5 << min(delivery.attempt, 6))))
        }
    }

    func responders() -> [Responder] {
        [
            verb(OrchestratorVerb.createWorkflow) { (call: WorkflowCreateCall) in try await workflows.create(call) },
            verb(OrchestratorVerb.listWorkflows) { (call: TenantCall) in try await workflows.list(call) },
            verb(OrchestratorVerb.showWorkflow) { (call: WorkflowCall) in try await workflows.show(call) },
            verb(OrchestratorVerb.deleteWorkflow) { (call: WorkflowCall) in try await workflows.delete(call) },
            verb(OrchestratorVerb.startRun) { (call: RunStartCall) in try await workflows.start(call) },
            verb(OrchestratorVerb.showRun) { (call: RunCall) in try await workflows.showRun(call) },
            verb(OrchestratorVerb.listRuns) { (call: RunListCall) in try await workflows.listRuns(call) },
            verb(OrchestratorVerb.cancelRun) { (call: RunCall) in try await workflows.cancel(call) },
        ]
    }

    private func verb<Call: Decodable & SendableMetatype, Answer: Encodable & SendableMetatype>(
        _ verb: String, _ answer: @escaping @Sendable (Call) async throws -> Answer
    ) -> Responder {
        Responder.verb(.orchestrator, verb, bus: bus, logger: logger, answer)
    }
}
