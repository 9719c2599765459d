import Contracts
import Foundation
import Logging
import SwitchyardBus

/// The router's bus endpoints, served in queue group `router` so replicas share the calls.
struct RouterResponders {
    let bus: Bus
    let chat: ChatCalls
    let embeddings: EmbeddingCalls
    let logger: Logger

    func responders() -> [Responder] {
        [
            Responder(bus: bus, subject: Subject.service(.router, RouterVerb.chat), queue: ServiceName.router.rawValue, logger: logger,
                      handler: .reply(complete)),
            Responder(bus: bus, subject: Subject.service(.router, RouterVerb.chatStream), queue: ServiceName.router.rawValue, logger: logger,
                      handler: .streaming(stream)),
            Responder(bus: bus, subject: Subject.service(.router, RouterVerb.embeddings), queue: ServiceName.router.rawValue, logger: logger,
                      handler: .unary(embed)),
        ]
    }

    func embed(_ request: BusRequest) async throws -> Data {
        let call = try decode(RouterEmbeddingsCall.self, request)
        return try JSONCoding.encode(try await embeddings.embed(call))
    }

    /// The reply names the deployment that answered (`Switchyard-Deployment`), so canaries can
    /// be told apart downstream.
    func complete(_ request: BusRequest) async throws -> BusReply {
        let call = try decode(RouterChatCall.self, request)
        let (completion, deployment) = try await chat.complete(call, deadline: request.deadline)
        return BusReply(payload: try JSONCoding.encode(completion), headers: [RouterHeader.deployment: deployment.name])
    }

    func stream(_ request: BusRequest, _ writer: ReplyStreamWriter) async throws {
        let call = try decode(RouterChatCall.self, request)
        _ = try await chat.stream(call, deadline: request.deadline) { chunk, headers in
            try writer.send(try JSONCoding.encode(chunk), headers: headers)
        }
    }

    private func decode<Call: Decodable>(_ type: Call.Type, _ request: BusRequest) throws(ServiceFault) -> Call {
        do {
            return try request.decode(type)
        } catch {
            throw ServiceFault(code: "invalid_request", message: "The call could not be read: \(error)")
        }
    }
}
