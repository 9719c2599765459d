import Foundation

// A tenant's routing of a catalog model, overriding the catalog's: `PUT /admin/tenants/{id}/routing/{model}`.

/// The body of `PUT /admin/tenants/{id}/routing/{model}`: how the tenant's calls to the model
/// are routed instead of as the catalog says. Either part may be left out, to keep the
/// catalog's.
public struct SetRoutingRequest: Codable, Sendable, Equatable {
    /// `priority`, `lowest_cost`, `lowest_latency`, `weighted` or `bandit`.
    public var strategy: String?
    /// Which of the model's deployments may answer the tenant, in priority order: a subset of
    /// the catalog's (a tenant that must keep its data in one region names that region's).
    public var deployments: [DeploymentChoice]?

    public init(strategy: String? = nil, deployments: [DeploymentChoice]? = nil) {
        self.strategy = strategy
        self.deployments = deployments
    }
}

public struct DeploymentChoice: Codable, Sendable, Equatable {
    /// A deployment of the model, as the catalog names it, e.g. `openai/gpt-4o-eu`.
    public var name: String
    /// Its share of the traffic under the `weighted` strategy: given for every deployment or for
    /// none (the catalog's weights then apply).
    public var weight: Int?

    public init(name: String, weight: Int? = nil) {
        self.name = name
        self.weight = weight
    }
}

/// A tenant's routing of one model, as stored and as the admin API answers it.
public struct RoutingOverride: Codable, Sendable, Equatable {
    public var object = "routing_override"
    public var model: String
    public var strategy: String?
    public var deployments: [DeploymentChoice]?
    public var updatedAt: Date?

    public init(model: String, strategy: String? = nil, deployments: [DeploymentChoice]? = nil, updatedAt: Date? = nil) {
        self.model = model
        self.strategy = strategy
        self.deployments = deployments
        self.updatedAt = updatedAt
    }

    public init(model: String, _ request: SetRoutingRequest) {
        self.init(model: model, strategy: request.strategy, deployments: request.deployments)
    }

    enum CodingKeys: String, CodingKey {
        case object, model, strategy, deployments
        case updatedAt = "updated_at"
    }
}
