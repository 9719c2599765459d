import ArgumentParser
import Contracts
import Foundation
import SwitchyardBus
import SwitchyardDatabase

struct Tenants: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenant", abstract: "Create tenants.", subcommands: [Create.self])

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
            try await TenantAdministration(cli: cli).create(tenantID, name: name)
            print(Subject.token(tenantID))
        }
    }
}

struct TenantAdministration {
    let cli: Operator

    /// Creates the tenant, records it in its audit log and publishes `tenant.created`. Creating
    /// an existing tenant again changes nothing and publishes nothing.
    func create(_ tenantID: UUID, name: String) async throws {
        let created = try await cli.withDatabase { database in
            try await database.withTenant(tenantID) { tx in
                let created = try await TenantRepository.create(name: name, in: tx)
                if created { try await AuditLog.append(actor: "cli", action: "tenant.create", target: Subject.token(tenantID), in: tx) }
                return created
            }
        }
        guard created else { return }
        try await cli.withBus { bus in
            try await bus.publish(Envelope(tenantID: tenantID, payload: TenantCreated(name: name)))
        }
    }
}

func parseUUID(_ text: String) throws -> UUID {
    guard let id = UUID(uuidString: text) else { throw ValidationError("\(text) is not a UUID") }
    return id
}
