import ArgumentParser
import Contracts
import Foundation
import SwitchyardAdministration

extension Role: ExpressibleByArgument {}

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key", abstract: "Create, list and revoke API keys.", subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an API key and print it; it cannot be shown again.")

        @Option(help: "The tenant id.") var tenant: String
        @Option(help: "A name for people to read.") var name: String
        @Option(help: "owner, admin, developer, viewer or billing.") var role: Role = .developer
        @Option(help: "Comma-separated models the key may call; every model by default.") var models: String?
        @Option(help: "Days until the key expires; never by default.") var expiresInDays: Int?

        func run() async throws {
            let cli = try await Operator.make()
            let tenantID = try parseUUID(tenant)
            let models = self.models.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            let expiresAt = expiresInDays.map { Date().addingTimeInterval(Double($0) * 86_400) }
            let request = CreateAPIKeyRequest(name: name, role: role, allowedModels: models, expiresAt: expiresAt)
            guard let key = try await cli.withAdministration({ try await $0.createKey(tenant: tenantID, request) }) else {
                throw ValidationError("there is no tenant \(Subject.token(tenantID))")
            }
            print(key.key ?? "")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a tenant's keys (never their secrets).")
        @Option(help: "The tenant id.") var tenant: String

        func run() async throws {
            let cli = try await Operator.make()
            let tenantID = try parseUUID(tenant)
            let keys = try await cli.withAdministration { try await $0.keys(tenant: tenantID) }
            for key in keys {
                let state = key.revokedAt != nil ? "revoked" : key.expiresAt.map { $0 <= Date() ? "expired" : "active" } ?? "active"
                print("\(key.id.uuidString.lowercased())  \(key.prefix)…  \(key.role.rawValue)  \(state)  \(key.name)")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key; gateways drop it when they see `apikey.revoked`.")
        @Option(help: "The tenant id.") var tenant: String
        @Argument(help: "The key id.") var id: String

        func run() async throws {
            let cli = try await Operator.make()
            let tenantID = try parseUUID(tenant)
            let keyID = try parseUUID(id)
            guard try await cli.withAdministration({ try await $0.revokeKey(keyID, tenant: tenantID) }) != nil else {
                throw ValidationError("tenant \(tenant) has no key \(id)")
            }
            print("revoked \(id)")
        }
    }
}
