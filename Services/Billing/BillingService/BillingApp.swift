import Contracts
import Logging
import SwitchyardBus
import SwitchyardDatabase
import ServiceLifecycle
import SwitchyardRuntime

/// The billing service: the usage ledger, recorded from `usage.recorded` exactly once per event,
/// usage reports from it on `svc.billing.usage`, spend forecasts on `svc.billing.forecast`, the
/// ledger's spend that gateways correct their budget counters by on `svc.billing.budget_spend`,
/// and monthly invoices (`InvoiceVerb`).
public enum BillingApp {
    public static let definition = ServiceDefinition(name: .billing, dependencies: [.postgresql, .nats, .redis]) { context in
        let ports = ports(bus: context.bus!, database: context.database!, consumerName: UsageLedger.consumerName, logger: context.logger)
        return [ports.usageConsumer()] + ports.responders()
    }

    static func ports(bus: Bus, database: Database, consumerName: String, logger: Logger) -> BillingPorts {
        let ledger = UsageLedger(database: database)
        return BillingPorts(bus: bus, ledger: ledger, batches: ledger.batches(), forecasts: Forecasts(database: database),
                     invoices: Invoices(database: database),
                     budgetSpends: BudgetSpends(bus: bus, database: database, consumer: consumerName),
                     consumerName: consumerName, logger: logger)
    }

    /// The ledger's consumer under another durable name and filter, and the responders:
    /// for tests that run billing beside their own events.
    public static func services(bus: Bus, database: Database, consumerName: String, filterSubject: String, logger: Logger) -> [any Service] {
        let ports = ports(bus: bus, database: database, consumerName: consumerName, logger: logger)
        return [ports.usageConsumer(filterSubject: filterSubject)] + ports.responders()
    }
}
