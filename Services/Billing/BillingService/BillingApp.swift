import SwitchyardRuntime

/// The billing service: its dependencies and what it runs. It needs the ledger in PostgreSQL, `usage.recorded` from NATS, budget counters re-seeded into Redis.
///
/// Its features are built in later work (see the README's status table); until then it
/// connects to its dependencies and serves health and metrics.
public enum BillingApp {
    public static let definition = ServiceDefinition(name: .billing, dependencies: [.postgresql, .nats, .redis]) { _ in
        []
    }
}
