import Foundation

/// The router's request/reply interface: what the gateway sends, what comes back.
public enum RouterVerb {
    /// One `ChatCompletion` reply.
    public static let chat = "chat"
    /// `ChatCompletionChunk`s as a streamed reply.
    public static let chatStream = "chat_stream"
    /// One `EmbeddingsResponse` reply.
    public static let embeddings = "embeddings"
    /// One `ModelList` reply: the models of a tenant's catalog.
    public static let models = "models"
    /// Every replica (no queue group) reads its catalog file again and answers a
    /// `CatalogReloadResult`.
    public static let reloadCatalog = "reload_catalog"
    /// A tenant's `RoutingOverride`, checked against the catalog before it is stored: answered
    /// as the router would apply it, or with a fault naming the field it refuses.
    public static let checkRouting = "check_routing"
}

/// A router put its catalog file in force again (`POST /admin/catalog/reload` or SIGHUP):
/// gateways read the model list again, whose prices and completion bounds reserve calls against
/// budgets. Announced under `UUID.everyTenant`.
public struct CatalogReloaded: EventPayload {
    public static let eventType = EventType(domain: "catalog", name: "reloaded")
    public static let version = 1
    /// The router replica that reloaded.
    public var instance: String
    public var models: [String]

    public init(instance: String, models: [String]) {
        self.instance = instance
        self.models = models
    }
}

/// One router replica's answer to a catalog reload; `POST /admin/catalog/reload` lists them.
public struct CatalogReloadResult: Codable, Sendable, Equatable {
    /// The replica, as `SWITCHYARD_INSTANCE` names it.
    public var instance: String
    /// `reloaded`, or `failed` (the catalog in force is kept).
    public var status: String
    /// The models in force after the attempt.
    public var models: [String]
    /// Why the file was refused, naming its line and field.
    public var error: String?

    public init(instance: String, status: String, models: [String], error: String? = nil) {
        self.instance = instance
        self.status = status
        self.models = models
        self.error = error
    }
}

/// Headers the router sets on its replies.
public enum RouterHeader {
    /// The catalog deployment that answered, e.g. `local/local-chat` (canaries are told apart by it).
    public static let deployment = "Switchyard-Deployment"
    /// The cost of the call in integer micro-USD, at the catalog price in force: on a completion
    /// or embeddings reply, and on the chunk of a stream that carries its usage.
    public static let costMicros = "Switchyard-Cost-Micros"
    /// The call's prompt plus completion tokens, beside the cost: the gateway settles its
    /// quotas from the headers without reading the answer again.
    public static let totalTokens = "Switchyard-Total-Tokens"
}

/// A chat completion call, on `svc.router.chat` or `svc.router.chat_stream`.
public struct RouterChatCall: Codable, Sendable, Equatable {
    /// The gateway's `x-request-id`; the usage event of this call is keyed by it.
    public var requestID: String
    public var tenantID: UUID
    public var apiKeyID: UUID?
    public var completion: ChatCompletionRequest

    public init(requestID: String, tenantID: UUID, apiKeyID: UUID?, completion: ChatCompletionRequest) {
        self.requestID = requestID
        self.tenantID = tenantID
        self.apiKeyID = apiKeyID
        self.completion = completion
    }

    enum CodingKeys: String, CodingKey {
        case requestID = "request_id"
        case tenantID = "tenant_id"
        case apiKeyID = "api_key_id"
        case completion
    }
}

/// An embeddings call, on `svc.router.embeddings`.
public struct RouterEmbeddingsCall: Codable, Sendable, Equatable {
    public var requestID: String
    public var tenantID: UUID
    public var apiKeyID: UUID?
    public var embeddings: EmbeddingsRequest

    public init(requestID: String, tenantID: UUID, apiKeyID: UUID?, embeddings: EmbeddingsRequest) {
        self.requestID = requestID
        self.tenantID = tenantID
        self.apiKeyID = apiKeyID
        self.embeddings = embeddings
    }

    enum CodingKeys: String, CodingKey {
        case requestID = "request_id"
        case tenantID = "tenant_id"
        case apiKeyID = "api_key_id"
        case embeddings
    }
}

extension UUID {
    /// A version 8 UUID computed from `name` (FNV-1a, 128 bits): the same name always gives the
    /// same id. For ids that must repeat when work is retried, such as the usage event of one
    /// request; not a secret and not for names an attacker chooses to collide.
    public static func derived(from name: String) -> UUID {
        // FNV-1a 128-bit: offset basis and prime from the FNV specification.
        var high: UInt64 = 0x6C62_272E_07BB_0142
        var low: UInt64 = 0x62B8_2175_6295_C58D
        let primeLow: UInt64 = 0x13B  // the prime is 2^88 + 0x13B
        for byte in name.utf8 {
            low ^= UInt64(byte)
            // (high, low) * (2^88 + 0x13B) mod 2^128
            let product = low.multipliedFullWidth(by: primeLow)
            let newHigh = high &* primeLow &+ product.high &+ (low << 24)
            low = product.low
            high = newHigh
        }
        var bytes = (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64($0))) }
            + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64($0))) }
        bytes[6] = 0x80 | (bytes[6] & 0x0F)  // version 8
        bytes[8] = 0x80 | (bytes[8] & 0x3F)  // RFC 9562 variant
        return UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                           bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }
}
