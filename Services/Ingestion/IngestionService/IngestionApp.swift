import SwitchyardRuntime

/// The ingestion service: its dependencies and what it runs. It needs documents and chunks in PostgreSQL, `document.uploaded` and `svc.ingestion.search` over NATS.
///
/// Its features are built in later work (see the README's status table); until then it
/// connects to its dependencies and serves health and metrics.
public enum IngestionApp {
    public static let definition = ServiceDefinition(name: .ingestion, dependencies: [.postgresql, .nats]) { _ in
        []
    }
}
