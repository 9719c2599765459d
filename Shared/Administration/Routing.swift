import Contracts
import Foundation
import SwitchyardBus
import SwitchyardDatabase

/// A tenant's routing of catalog models. An override is checked by a router against the catalog
/// in force before it is stored, stored with its audit entry, then announced
/// (`routing.changed`), so every router applies it to the tenant's next calls.
extension Administration {
    /// Sets the tenant's routing of `model`; nil when there is no such tenant. Refuses, naming
    /// the field, what the catalog cannot route; throws the bus's error when no router answers.
    public func setRouting(model: String, _ request: SetRoutingRequest, tenant: UUID) async throws -> (override: RoutingOverride, created: Bool)? {
        let checked = try await checkWithRouter(RoutingOverride(model: model, request))
        let set = try await database.withTenant(tenant) { tx -> (RoutingOverride, Bool)? in
            guard try await TenantRepository.find(in: tx) != nil else { return nil }
            let (stored, created) = try await RoutingOverrideRepository.set(checked, in: tx)
            try await AuditLog.append(
                actor: actor, action: "routing.set", target: model,
                detailsJSON: String(decoding: try JSONCoding.encode(SetRoutingRequest(strategy: stored.strategy, deployments: stored.deployments)), as: UTF8.self),
                in: tx)
            return (stored, created)
        }
        guard let (stored, created) = set else { return nil }
        try await bus.publish(Envelope(tenantID: tenant, payload: RoutingChanged(model: model, override: stored)))
        return (stored, created)
    }

    public func routing(model: String, tenant: UUID) async throws -> RoutingOverride? {
        try await database.withTenant(tenant) { try await RoutingOverrideRepository.find(model: model, in: $0) }
    }

    public func routing(tenant: UUID) async throws -> [RoutingOverride] {
        try await database.withTenant(tenant) { try await RoutingOverrideRepository.list(in: $0) }
    }

    /// Puts the catalog's routing of `model` back in force for the tenant; nil when it had none.
    public func removeRouting(model: String, tenant: UUID) async throws -> RoutingOverride? {
        let removed = try await database.withTenant(tenant) { tx -> RoutingOverride? in
            guard let removed = try await RoutingOverrideRepository.remove(model: model, in: tx) else { return nil }
            try await AuditLog.append(actor: actor, action: "routing.remove", target: model, in: tx)
            return removed
        }
        guard let removed else { return nil }
        try await bus.publish(Envelope(tenantID: tenant, payload: RoutingChanged(model: model, override: nil)))
        return removed
    }

    /// The override as a router would apply it to the catalog in force.
    private func checkWithRouter(_ override: RoutingOverride) async throws -> RoutingOverride {
        do {
            let reply = try await bus.request(
                Subject.service(.router, RouterVerb.checkRouting), payload: JSONCoding.encode(override), timeout: .seconds(5))
            return try JSONCoding.decode(RoutingOverride.self, from: reply.payload)
        } catch BusError.remote(let fault) where fault.code == "invalid_value" || fault.code == "model_not_found" {
            throw AdministrationError(field: fault.param ?? "model", message: fault.message)
        }
    }
}
