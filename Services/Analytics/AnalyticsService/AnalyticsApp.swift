import SwitchyardRuntime

/// The analytics service: its dependencies and what it runs. It needs read models in PostgreSQL, projected from every event on NATS.
///
/// Its features are built in later work (see the README's status table); until then it
/// connects to its dependencies and serves health and metrics.
public enum AnalyticsApp {
    public static let definition = ServiceDefinition(name: .analytics, dependencies: [.postgresql, .nats]) { _ in
        []
    }
}
