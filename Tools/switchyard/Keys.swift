import ArgumentParser
import Contracts
import Foundation
import SwitchyardBus
import SwitchyardDatabase

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
            let secret = try await KeyAdministration(cli: cli).create(
                tenantID: tenantID, name: name, role: role, allowedModels: models, expiresAt: expiresAt)
            print(secret.value)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a tenant's keys (never their secrets).")
        @Option(help: "The tenant id.") var tenant: String

        func run() async throws {
            let cli = try await Operator.make()
            let tenantID = try parseUUID(tenant)
            let keys = try await cli.withDatabase { database in
                try await database.withTenant(tenantID) { try await APIKeyRepository.list(in: $0) }
            }
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
            guard try await KeyAdministration(cli: cli).revoke(tenantID: tenantID, keyID: keyID) else {
                throw ValidationError("tenant \(tenant) has no key \(id)")
            }
            print("revoked \(id)")
        }
    }
}

struct KeyAdministration {
    let cli: Operator

    /// Stores a key with an audit entry, then publishes `apikey.created`.
    func create(tenantID: UUID, name: String, role: Role, allowedModels: [String]?, expiresAt: Date?) async throws -> APIKeySecret {
        let (record, secret) = try await cli.withDatabase { database in
            try await database.withTenant(tenantID) { tx in
                guard try await TenantRepository.find(in: tx) != nil else {
                    throw ValidationError("there is no tenant \(Subject.token(tenantID))")
                }
                let created = try await APIKeyRepository.create(
                    name: name, role: role, allowedModels: allowedModels, expiresAt: expiresAt, in: tx)
                try await AuditLog.append(actor: "cli", action: "apikey.create", target: created.0.id.uuidString.lowercased(), in: tx)
                return created
            }
        }
        try await cli.withBus { bus in
            try await bus.publish(Envelope(tenantID: tenantID, payload: APIKeyCreated(
                apiKeyID: record.id, name: record.name, prefix: record.prefix, role: record.role,
                expiresAt: record.expiresAt, allowedModels: record.allowedModels)))
        }
        return secret
    }

    /// Revokes with an audit entry, then publishes `apikey.revoked`. False when there is no such key.
    func revoke(tenantID: UUID, keyID: UUID) async throws -> Bool {
        let revoked = try await cli.withDatabase { database in
            try await database.withTenant(tenantID) { tx in
                let record = try await APIKeyRepository.revoke(id: keyID, in: tx)
                if record != nil {
                    try await AuditLog.append(actor: "cli", action: "apikey.revoke", target: keyID.uuidString.lowercased(), in: tx)
                }
                return record
            }
        }
        guard let revoked, let revokedAt = revoked.revokedAt else { return false }
        try await cli.withBus { bus in
            try await bus.publish(Envelope(tenantID: tenantID, payload: APIKeyRevoked(apiKeyID: keyID, prefix: revoked.prefix, revokedAt: revokedAt)))
        }
        return true
    }
}
