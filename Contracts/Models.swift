import Foundation

/// `GET /v1/models`: the models a caller may use, in OpenAI's list shape.
public struct ModelList: Codable, Sendable, Equatable {
    public var object = "list"
    public var data: [ModelInfo]

    public init(data: [ModelInfo]) { self.data = data }
}

public struct ModelInfo: Codable, Sendable, Equatable {
    public var id: String
    public var object = "model"
    /// Unix seconds; when the catalog that serves the model was loaded.
    public var created: Int64
    public var ownedBy: String
    /// What the model can do: `chat`, `streaming`, `embeddings`, `tools`.
    public var capabilities: [String]
    /// What the tenant's calls are charged at: its price or the book's in force, otherwise the
    /// highest catalog price among the model's deployments. What a call is reserved at.
    public var pricing: Price?
    /// The most completion tokens a call that sets no limit can produce, on whichever deployment
    /// answers it: what such a call is reserved at. Nil from a router that predates it.
    public var maxCompletionTokens: Int?

    public init(id: String, created: Int64, ownedBy: String = "switchyard", capabilities: [String], pricing: Price? = nil,
                maxCompletionTokens: Int? = nil) {
        self.id = id
        self.created = created
        self.ownedBy = ownedBy
        self.capabilities = capabilities
        self.pricing = pricing
        self.maxCompletionTokens = maxCompletionTokens
    }

    enum CodingKeys: String, CodingKey {
        case id, object, created
        case ownedBy = "owned_by"
        case capabilities, pricing
        case maxCompletionTokens = "max_completion_tokens"
    }
}

/// A models call, on `svc.router.models`: the catalog this tenant sees.
public struct RouterModelsCall: Codable, Sendable, Equatable {
    public var tenantID: UUID

    public init(tenantID: UUID) { self.tenantID = tenantID }

    enum CodingKeys: String, CodingKey { case tenantID = "tenant_id" }
}
