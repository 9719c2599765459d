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
                      handler: .unary(complete)),
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

    func complete(_ request: BusRequest) async throws -> Data {
        let call = try decode(RouterChatCall.self, request)
        let (completion, _) = try await chat.complete(call)
        return try JSONCoding.encode(completion)
    }

    func stream(_ request: BusRequest, _ writer: ReplyStreamWriter) async throws {
        let call = try decode(RouterChatCall.self, request)
        _ = try await chat.stream(call) { chunk in
            try writer.send(try JSONCoding.encode(chunk))
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
