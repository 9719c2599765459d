import ArgumentParser
import Contracts
import Foundation
import SwitchyardAdministration

struct Tenants: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenant", abstract: "Create and show tenants.", subcommands: [Create.self, Show.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a tenant and print its id.")

        @Option(help: "A name for people to read.")
        var name: String

        @Option(help: "The tenant id (a UUID); a new one by default.")
        var id: String?

        func run() async throws {
            let cli = try await Operator.make()
            let tenantID = try id.map(parseUUID) ?? .timeOrdered()
            let name = self.name
            _ = try await cli.withAdministration { try await $0.createTenant(tenantID, name: name) }
            print(Subject.token(tenantID))
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a tenant, its limits and its budget as JSON, as the admin API shows them.")

        @Argument(help: "The tenant id.")
        var id: String

        func run() async throws {
            let cli = try await Operator.make()
            let tenantID = try parseUUID(id)
            let shown = try await cli.withAdministration { administration -> TenantView? in
                guard let tenant = try await administration.tenant(tenantID) else { return nil }
                return TenantView(tenant: tenant, limits: try await administration.limits(tenant: tenantID),
                                  budget: try await administration.budget(tenant: tenantID))
            }
            guard let shown else { throw ValidationError("there is no tenant \(id)") }
            print(String(decoding: try JSONCoding.encode(shown), as: UTF8.self))
        }
    }

    struct TenantView: Codable, Sendable {
        var tenant: TenantInfo
        var limits: QuotaLimits
        var budget: Budget?
    }
}

func parseUUID(_ text: String) throws -> UUID {
    guard let id = UUID(uuidString: text) else { throw ValidationError("\(text) is not a UUID") }
    return id
}
