import SwitchyardRuntime

/// The router service: its dependencies and what it runs. It needs per-tenant catalog overrides in PostgreSQL, `svc.router.*` over NATS.
///
/// Its features are built in later work (see the README's status table); until then it
/// connects to its dependencies and serves health and metrics.
public enum RouterApp {
    public static let definition = ServiceDefinition(name: .router, dependencies: [.postgresql, .nats]) { _ in
        []
    }
}
