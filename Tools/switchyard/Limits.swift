import ArgumentParser
import Contracts
import Foundation
import SwitchyardAdministration

extension Budget.Policy: ExpressibleByArgument {}

struct Limits: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "limits", abstract: "Set the rate limits and quotas of a tenant or one of its keys.", subcommands: [Set.self])

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace the limits of a tenant (or, with --key, of one key); a limit left out is none. Gateways apply them at once.")

        @Option(help: "The tenant id.") var tenant: String
        @Option(help: "A key id of the tenant: its limits instead of the tenant's.") var key: String?
        @Option var requestsPerMinute: Int?
        @Option var requestsPerDay: Int?
        @Option var tokensPerMinute: Int?
        @Option var tokensPerMonth: Int?
        @Option var concurrentRequests: Int?

        func run() async throws {
            let cli = try await Operator.make()
            let tenantID = try parseUUID(tenant)
            let keyID = try key.map(parseUUID)
            let limits = QuotaLimits(
                requestsPerMinute: requestsPerMinute, requestsPerDay: requestsPerDay, tokensPerMinute: tokensPerMinute,
                tokensPerMonth: tokensPerMonth, concurrentRequests: concurrentRequests)
            let found = try await cli.withAdministration { administration in
                if let keyID { try await administration.setKeyLimits(limits, key: keyID, tenant: tenantID) }
                else { try await administration.setTenantLimits(limits, tenant: tenantID) }
            }
            guard found else { throw ValidationError(keyID == nil ? "there is no tenant \(tenant)" : "tenant \(tenant) has no key \(key ?? "")") }
            print(String(decoding: try JSONCoding.encode(limits), as: UTF8.self))
        }
    }
}

struct Budgets: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "budget", abstract: "Set the monthly money budget of a tenant or one of its keys.", subcommands: [Set.self])

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set a monthly budget; gateways apply it at once.")

        @Option(help: "The tenant id.") var tenant: String
        @Option(help: "A key id of the tenant: its budget instead of the tenant's.") var key: String?
        @Option(help: "The budget in micro-USD (1000000 is $1).") var amountMicros: Int64
        @Option(help: "Ascending percentages that announce budget.threshold_crossed.") var thresholds = "50,80,90,100"
        @Option(help: "block, throttle or warn.") var policy: Budget.Policy = .block

        func run() async throws {
            let cli = try await Operator.make()
            let tenantID = try parseUUID(tenant)
            let keyID = try key.map(parseUUID)
            let percentages = try thresholds.split(separator: ",").map { text -> Int in
                guard let value = Int(text.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("thresholds: \(text) is not a number") }
                return value
            }
            let budget = Budget(amountMicros: amountMicros, thresholds: percentages, policy: policy)
            let found = try await cli.withAdministration { administration in
                if let keyID { try await administration.setKeyBudget(budget, key: keyID, tenant: tenantID) }
                else { try await administration.setTenantBudget(budget, tenant: tenantID) }
            }
            guard found else { throw ValidationError(keyID == nil ? "there is no tenant \(tenant)" : "tenant \(tenant) has no key \(key ?? "")") }
            print(String(decoding: try JSONCoding.encode(budget), as: UTF8.self))
        }
    }
}
