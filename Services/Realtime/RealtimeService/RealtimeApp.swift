import SwitchyardRuntime

/// The realtime service: its dependencies and what it runs. It needs API keys in PostgreSQL to authenticate connections, tenant events from NATS.
///
/// Its features are built in later work (see the README's status table); until then it
/// connects to its dependencies and serves health and metrics.
public enum RealtimeApp {
    public static let definition = ServiceDefinition(name: .realtime, dependencies: [.postgresql, .nats]) { _ in
        []
    }
}
