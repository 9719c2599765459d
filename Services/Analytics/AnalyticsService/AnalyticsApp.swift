import Contracts
import Logging
import ServiceLifecycle
import SwitchyardBus
import SwitchyardDatabase
import SwitchyardRuntime

/// The analytics service: read models in PostgreSQL projected from every event (calls per
/// tenant, key, model, deployment and hour; each budget's standing), usage series from them on
/// `svc.analytics.usage`, and their rebuild from the EVENTS stream (`switchyard analytics rebuild`).
public enum AnalyticsApp {
    public static let definition = ServiceDefinition(name: .analytics, dependencies: [.postgresql, .nats]) { context in
        let ports = ports(bus: context.bus!, database: context.database!, logger: context.logger)
        return [ports.projectionConsumer(), ports.usageResponder()]
    }

    static func ports(bus: Bus, database: Database, logger: Logger) -> AnalyticsPorts {
        AnalyticsPorts(bus: bus, projection: Projection(database: database), series: UsageSeries(database: database), logger: logger)
    }

    /// The projection's consumer under another durable name and filter, and the usage
    /// responder: for tests that run analytics beside their own events.
    public static func services(bus: Bus, database: Database, consumerName: String, filterSubject: String, logger: Logger) -> [any Service] {
        let ports = ports(bus: bus, database: database, logger: logger)
        return [ports.projectionConsumer(name: consumerName, filterSubject: filterSubject), ports.usageResponder()]
    }
}
