import Contracts
import Logging
import ServiceLifecycle
import SwitchyardBus
import SwitchyardDatabase
import SwitchyardRuntime

/// The orchestrator: a tenant's workflows, stored on `svc.orchestrator.*`, and their runs,
/// carried out from `run.requested` a step at a time (chat completions through the router,
/// searches through ingestion), each step recorded as it ends so a run survives a crash, and
/// announced by `run.finished`.
public enum OrchestratorApp {
    public static let definition = ServiceDefinition(name: .orchestrator, dependencies: [.postgresql, .nats]) { context in
        let config = try OrchestratorConfig(settings: context.settings)
        let ports = ports(config: config, bus: context.bus!, database: context.database!, consumerName: "orchestrator-runs", logger: context.logger)
        return [ports.runConsumer()] + ports.responders()
    }

    static func ports(config: OrchestratorConfig, bus: Bus, database: Database, consumerName: String, logger: Logger) -> OrchestratorPorts {
        OrchestratorPorts(
            bus: bus, workflows: Workflows(database: database, bus: bus, logger: logger),
            execution: RunExecution(database: database, bus: bus, calls: StepCalls(bus: bus), retryDelays: config.retryDelays),
            config: config, consumerName: consumerName, logger: logger)
    }

    /// The consumer under another durable name and filter, and the responders: for tests that
    /// run the orchestrator beside their own events.
    public static func services(
        config: OrchestratorConfig = OrchestratorConfig(), bus: Bus, database: Database, consumerName: String, filterSubject: String,
        logger: Logger
    ) -> [any Service] {
        let ports = ports(config: config, bus: bus, database: database, consumerName: consumerName, logger: logger)
        return [ports.runConsumer(filterSubject: filterSubject)] + ports.responders()
    }
}

public struct OrchestratorConfig: Sendable {
    /// `SWITCHYARD_ORCHESTRATOR_ACK_WAIT`: how soon a run whose replica died is taken up by
    /// another, from its last step recorded.
    public var ackWait: Duration
    /// Waits between a step's attempts.
    public var retryDelays: [Duration]

    public init(ackWait: Duration = .seconds(60), retryDelays: [Duration] = [.seconds(1), .seconds(3), .seconds(9), .seconds(27), .seconds(60)]) {
        self.ackWait = ackWait
        self.retryDelays = retryDelays
    }

    public init(settings: Settings) throws(ConfigError) {
        self.init()
        ackWait = try settings.duration("SWITCHYARD_ORCHESTRATOR_ACK_WAIT", default: ackWait)
        guard ackWait >= .seconds(3) else { throw ConfigError(variable: "SWITCHYARD_ORCHESTRATOR_ACK_WAIT", reason: "must be at least 3s") }
    }
}
