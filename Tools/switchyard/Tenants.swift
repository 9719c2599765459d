import ArgumentParser
import Contracts
import Foundation
import SwitchyardAdministration

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
            try await cli.withAdministration { try await $0.createTenant(tenantID, name: name) }
            print(Subject.token(tenantID))
        }
    }
}

func parseUUID(_ text: String) throws -> UUID {
    guard let id = UUID(uuidString: text) else { throw ValidationError("\(text) is not a UUID") }
    return id
}
