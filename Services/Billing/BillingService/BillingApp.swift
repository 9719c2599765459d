import Contracts
import Logging
import SwitchyardBus
import SwitchyardDatabase
import ServiceLifecycle
import SwitchyardRuntime

/// The billing service: the usage ledger, recorded from `usage.recorded` exactly once per event,
/// usage reports from it on `svc.billing.usage`, spend forecasts on `svc.billing.forecast`, and
/// monthly invoices (`InvoiceVerb`). Discounts and a payment provider's webhooks are built in
/// later work (see the README's status table).
public enum BillingApp {
    public static let definition = ServiceDefinition(name: .billing, dependencies: [.postgresql, .nats, .redis]) { context in
        let ports = ports(bus: context.bus!, database: context.database!, logger: context.logger)
        return [ports.usageConsumer()] + ports.responders()
    }

    static func ports(bus: Bus, database: Database, logger: Logger) -> BillingPorts {
        BillingPorts(bus: bus, ledger: UsageLedger(database: database), forecasts: Forecasts(database: database),
                     invoices: Invoices(database: database), logger: logger)
    }

    /// The ledger's consumer under another durable name and filter, and the responders:
    /// for tests that run billing beside their own events.
    public static func services(bus: Bus, database: Database, consumerName: String, filterSubject: String, logger: Logger) -> [any Service] {
        let ports = ports(bus: bus, database: database, logger: logger)
        return [ports.usageConsumer(name: consumerName, filterSubject: filterSubject)] + ports.responders()
    }
}
