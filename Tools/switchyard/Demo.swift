import ArgumentParser
import Contracts
import Foundation
import SwitchyardAdministration
import SwitchyardDatabase

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make sure the demo tenant and an owner key for it exist; print them as NAME=value lines.",
        discussion: "Idempotent: pass the key printed last time with --keep-key and it is printed again while it still works.")

    /// Fixed, so every run finds the same tenant.
    static let tenantID = UUID(uuidString: "00000000-0000-7000-8000-00000000de30")!

    @Option(help: "A key from an earlier run to keep when it is still valid.")
    var keepKey: String?

    func run() async throws {
        let cli = try await Operator.make()
        _ = try await cli.withAdministration { try await $0.createTenant(Self.tenantID, name: "demo") }
        var key = keepKey
        if let existing = keepKey {
            let resolved = try await cli.withDatabase { try await APIKeyRepository.resolve(existing, using: $0) }
            if case .success(let found) = resolved, found.tenantID == Self.tenantID { key = existing } else { key = nil }
        }
        if key == nil {
            key = try await cli.withAdministration {
                try await $0.createKey(tenant: Self.tenantID, CreateAPIKeyRequest(name: "demo owner key", role: .owner))
            }?.key
        }
        print("SWITCHYARD_TENANT_ID=\(Subject.token(Self.tenantID))")
        print("SWITCHYARD_API_KEY=\(key!)")
    }
}
