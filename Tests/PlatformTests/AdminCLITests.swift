import Contracts
import Foundation
import SwitchyardDatabase
import Testing

/// The `switchyard` CLI's limits, budget and member commands: the same administration as `/admin`.
@Suite struct AdminCLITests {
    @Test func theCLISetsLimitsAndBudgetsOfATenantAndOfAKey() async throws {
        try await withDatabase { database in
            let tenant = try await makeTenant(database)
            let key = try await makeKey(database, tenant: tenant)
            _ = try await CLI.run(["limits", "set", "--tenant", tenant.uuidString, "--requests-per-minute", "120", "--tokens-per-month", "5000000"])
            _ = try await CLI.run(["limits", "set", "--tenant", tenant.uuidString, "--key", key.id.uuidString, "--concurrent-requests", "3"])
            _ = try await CLI.run(["budget", "set", "--tenant", tenant.uuidString, "--amount-micros", "25000000", "--policy", "warn"])
            _ = try await CLI.run(["budget", "set", "--tenant", tenant.uuidString, "--key", key.id.uuidString, "--amount-micros", "1000000",
                                   "--thresholds", "75,100"])
            let (tenantLimits, keyLimits, tenantBudget, keyBudget, audit) = try await database.withTenant(tenant) { tx in
                (try await QuotaLimitsRepository.tenantLimits(in: tx), try await QuotaLimitsRepository.keyLimits(key.id, in: tx),
                 try await BudgetRepository.tenantBudget(in: tx), try await BudgetRepository.keyBudget(key.id, in: tx),
                 try await AuditLog.entries(in: tx))
            }
            #expect(tenantLimits == QuotaLimits(requestsPerMinute: 120, tokensPerMonth: 5_000_000))
            #expect(keyLimits == QuotaLimits(concurrentRequests: 3))
            #expect(tenantBudget == Budget(amountMicros: 25_000_000, policy: .warn))
            #expect(keyBudget == Budget(amountMicros: 1_000_000, thresholds: [75, 100]))
            #expect(audit.filter { $0.actor == "cli" }.map(\.action) == ["tenant.limits.set", "apikey.limits.set", "tenant.budget.set", "apikey.budget.set"])

            struct Shown: Decodable { var tenant: TenantInfo; var limits: QuotaLimits; var budget: Budget? }
            let shown = try JSONCoding.decode(Shown.self, from: Data(try await CLI.run(["tenant", "show", tenant.uuidString]).utf8))
            #expect(shown.tenant.id == tenant && shown.limits == tenantLimits && shown.budget == tenantBudget)
            await #expect(throws: CLI.Failed.self) { _ = try await CLI.run(["tenant", "show", UUID().uuidString]) }
        }
    }

    @Test func theCLIAddsChangesListsAndRemovesMembers() async throws {
        try await withDatabase { database in
            let tenant = try await makeTenant(database)
            let added = try await CLI.run(["member", "set", "--tenant", tenant.uuidString, "--roles", "developer,billing",
                                           "--email", "ada@example.test", "auth0|ada"])
            #expect(added.contains("added auth0|ada  developer,billing"))
            let changed = try await CLI.run(["member", "set", "--tenant", tenant.uuidString, "--roles", "viewer", "auth0|ada"])
            #expect(changed.contains("updated auth0|ada  viewer"))
            let listed = try await CLI.run(["member", "list", "--tenant", tenant.uuidString])
            #expect(listed.contains("auth0|ada  viewer  -"))
            let failure = try await #require(throws: CLI.Failed.self) {
                _ = try await CLI.run(["member", "set", "--tenant", tenant.uuidString, "--roles", "superuser", "bob"])
            }
            #expect(failure.output.contains("superuser is not a role"))
            _ = try await CLI.run(["member", "remove", "--tenant", tenant.uuidString, "auth0|ada"])
            await #expect(throws: CLI.Failed.self) {
                _ = try await CLI.run(["member", "remove", "--tenant", tenant.uuidString, "auth0|ada"])
            }
            let (members, audit) = try await database.withTenant(tenant) { tx in
                (try await MemberRepository.list(in: tx), try await AuditLog.entries(in: tx))
            }
            #expect(members.isEmpty)
            #expect(audit.filter { $0.actor == "cli" }.map(\.action) == ["member.add", "member.roles.set", "member.remove"])
        }
    }

    @Test func aBadValueIsRefusedNamingItAndChangesNothing() async throws {
        try await withDatabase { database in
            let tenant = try await makeTenant(database)
            await #expect(throws: CLI.Failed.self) {
                _ = try await CLI.run(["budget", "set", "--tenant", tenant.uuidString, "--amount-micros", "0"])
            }
            let failure = try await #require(throws: CLI.Failed.self) {
                _ = try await CLI.run(["limits", "set", "--tenant", tenant.uuidString, "--requests-per-day=-3"])
            }
            #expect(failure.output.contains("requests_per_day"))
            let budget = try await database.withTenant(tenant) { try await BudgetRepository.tenantBudget(in: $0) }
            #expect(budget == nil)
        }
    }
}
