import SwitchyardRuntime

/// The gateway service: its dependencies and what it runs. It needs API keys and tenants in PostgreSQL, requests to the router over NATS, quotas and budgets in Redis.
///
/// Its features are built in later work (see the README's status table); until then it
/// connects to its dependencies and serves health and metrics.
public enum GatewayApp {
    public static let definition = ServiceDefinition(name: .gateway, dependencies: [.postgresql, .nats, .redis]) { _ in
        []
    }
}
