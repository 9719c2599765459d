import Contracts
import Foundation
import Logging
import SwitchyardBus

/// The router's bus endpoints, served in queue group `router` so replicas share the calls
/// (catalog reloads excepted: every replica answers those).
struct RouterResponders {
    let bus: Bus
    let chat: ChatCalls
    let embeddings: EmbeddingCalls
    let catalogs: TenantCatalogs
    let reloading: CatalogReloading
    let logger: Logger

    func responders() -> [Responder] {
        [
            // Every replica, not one of the group: each must read its file again.
            Responder(bus: bus, subject: Subject.service(.router, RouterVerb.reloadCatalog), queue: nil, logger: logger,
                      handler: .unary(reloadCatalog)),
            Responder(bus: bus, subject: Subject.service(.router, RouterVerb.chat), queue: ServiceName.router.rawValue, logger: logger,
                      handler: .reply(complete)),
            Responder(bus: bus, subject: Subject.service(.router, RouterVerb.chatStream), queue: ServiceName.router.rawValue, logger: logger,
                      handler: .streaming(stream)),
            Responder(bus: bus, subject: Subject.service(.router, RouterVerb.embeddings), queue: ServiceName.router.rawValue, logger: logger,
                      handler: .reply(embed)),
            Responder(bus: bus, subject: Subject.service(.router, RouterVerb.models), queue: ServiceName.router.rawValue, logger: logger,
                      handler: .unary(models)),
            Responder(bus: bus, subject: Subject.service(.router, RouterVerb.checkRouting), queue: ServiceName.router.rawValue, logger: logger,
                      handler: .unary(checkRouting)),
        ]
    }

    func embed(_ request: BusRequest) async throws -> BusReply {
        let call = try request.decode(RouterEmbeddingsCall.self)
        let (response, record) = try await embeddings.embed(call)
        let cost = record.price.costMicros(promptTokens: response.usage.promptTokens, completionTokens: 0)
        return BusReply(payload: try JSONCoding.encode(response), headers: [
            RouterHeader.deployment: record.deployment.name, RouterHeader.costMicros: String(cost),
            RouterHeader.totalTokens: String(response.usage.totalTokens),
        ])
    }

    func reloadCatalog(_ request: BusRequest) async throws -> Data {
        try JSONCoding.encode(await reloading.reload(on: "request"))
    }

    func models(_ request: BusRequest) async throws -> Data {
        let call = try request.decode(RouterModelsCall.self)
        return try JSONCoding.encode(try await catalogs.modelList(tenant: call.tenantID))
    }

    /// A tenant's routing override as it would apply to the catalog in force, before it is stored.
    func checkRouting(_ request: BusRequest) async throws -> Data {
        let override = try request.decode(RoutingOverride.self)
        return try JSONCoding.encode(try catalogs.store.catalog.check(override))
    }

    /// The reply names the deployment that answered (`Switchyard-Deployment`), so canaries can
    /// be told apart downstream.
    func complete(_ request: BusRequest) async throws -> BusReply {
        let call = try request.decode(RouterChatCall.self)
        let (completion, record) = try await chat.complete(call, deadline: request.deadline)
        let usage = completion.usage ?? TokenUsage(promptTokens: 0, completionTokens: 0)
        let cost = record.price.costMicros(promptTokens: usage.promptTokens, completionTokens: usage.completionTokens)
        return BusReply(payload: try JSONCoding.encode(completion), headers: [
            RouterHeader.deployment: record.deployment.name, RouterHeader.costMicros: String(cost),
            RouterHeader.totalTokens: String(usage.promptTokens + usage.completionTokens),
        ])
    }

    func stream(_ request: BusRequest, _ writer: ReplyStreamWriter) async throws {
        let call = try request.decode(RouterChatCall.self)
        var chunks = StreamChunkEncoder()
        _ = try await chat.stream(call, deadline: request.deadline) { chunk, headers in
            try await writer.send(try chunks.encode(chunk), headers: headers)
        }
    }
}
