import SwitchyardRuntime

/// The orchestrator service: its dependencies and what it runs. It needs workflow runs in PostgreSQL, `run.*` events over NATS.
///
/// Its features are built in later work (see the README's status table); until then it
/// connects to its dependencies and serves health and metrics.
public enum OrchestratorApp {
    public static let definition = ServiceDefinition(name: .orchestrator, dependencies: [.postgresql, .nats]) { _ in
        []
    }
}
