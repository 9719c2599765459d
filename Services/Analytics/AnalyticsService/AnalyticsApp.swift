import Contracts
import Logging
import ServiceLifecycle
import SwitchyardBus
import SwitchyardDatabase
import SwitchyardRuntime

/// The analytics service: read models in PostgreSQL projected from every event (calls per
/// tenant, key, model, deployment and hour; each budget's standing), usage series from them on
/// `svc.analytics.usage`, a tenant's dashboard page on `svc.analytics.dashboard`, and their
/// rebuild from the EVENTS stream (`switchyard analytics rebuild`).
public enum AnalyticsApp {
    public static let definition = ServiceDefinition(name: .analytics, dependencies: [.postgresql, .nats]) { context in
        let ports = ports(bus: context.bus!, database: context.database!, logger: context.logger)
        return [ports.projectionConsumer()] + ports.responders()
    }

    static func ports(bus: Bus, database: Database, logger: Logger) -> AnalyticsPorts {
        let series = UsageSeries(database: database)
        let dashboard = Dashboard(database: database, series: series) { tenant in
            let call = BillingForecastCall(tenantID: tenant)
            guard let payload = try? JSONCoding.encode(call),
                  let reply = try? await bus.request(Subject.service(.billing, BillingVerb.forecast), payload: payload, timeout: .seconds(3)) else {
                return nil
            }
            return try? JSONCoding.decode(SpendForecastReport.self, from: reply.payload)
        }
        let projection = Projection(database: database)
        return AnalyticsPorts(bus: bus, projection: projection, batches: projection.batches(), series: series, dashboard: dashboard, logger: logger)
    }

    /// The projection's consumer under another durable name and filter, and the responders:
    /// for tests that run analytics beside their own events.
    public static func services(bus: Bus, database: Database, consumerName: String, filterSubject: String, logger: Logger) -> [any Service] {
        let ports = ports(bus: bus, database: database, logger: logger)
        return [ports.projectionConsumer(name: consumerName, filterSubject: filterSubject)] + ports.responders()
    }
}
