import Contracts
import Foundation
import HTTPTypes
import Hummingbird

/// The OpenAI-compatible routes under `/v1`: chat completions (JSON and server-sent events),
/// embeddings and models.
struct InferenceRoutes: Sendable {
    let calls: ModelCalls
    let body: JSONBody

    func addRoutes(to group: RouterGroup<GatewayContext>) {
        group.post("chat/completions", use: chatCompletions)
        group.post("embeddings", use: embeddings)
        group.get("models", use: models)
        group.get("models/:model", use: model)
    }

    func chatCompletions(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        try caller.require(.inference)
        let completion = try await body.decode(ChatCompletionRequest.self, from: request)
        if completion.stream == true {
            let stream = try await calls.openStream(completion, caller: caller, requestID: context.requestID)
            return eventStream(stream)
        }
        let (reply, admission) = try await calls.complete(completion, caller: caller, requestID: context.requestID)
        return json(reply, admission)
    }

    func embeddings(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        try caller.require(.inference)
        let embeddings = try await body.decode(EmbeddingsRequest.self, from: request)
        let (reply, admission) = try await calls.embed(embeddings, caller: caller, requestID: context.requestID)
        return json(reply, admission)
    }

    func models(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        try caller.require(.modelsList)
        return try Response.json(try await calls.models(caller: caller, requestID: context.requestID))
    }

    func model(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        try caller.require(.modelsList)
        let name = try context.parameters.require("model")
        guard let model = try await calls.models(caller: caller, requestID: context.requestID).data.first(where: { $0.id == name }) else {
            throw APIError.modelNotFound(name)
        }
        return try Response.json(model)
    }

    /// The router's JSON as it came, with the rate limit headers and the deployment that answered.
    private func json(_ reply: RouterClient.Reply, _ admission: Admission?) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        Self.add(admission?.headers ?? [], to: &headers)
        if let deployment = reply.deployment { headers[.deployment] = deployment }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: reply.payload)))
    }

    /// Server-sent events in OpenAI's format: `data: <chunk>` per chunk, then `data: [DONE]`.
    /// When the client goes away a write fails, the relay stops and the router's stream is
    /// cancelled, which cancels the upstream call; the router still records the usage so far.
    private func eventStream(_ stream: ChatStream) -> Response {
        var headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
        Self.add(stream.rateLimitHeaders, to: &headers)
        if let deployment = stream.deployment { headers[.deployment] = deployment }
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            do {
                while let event = await stream.next() {
                    switch event {
                    case .chunk(let payload):
                        var buffer = ByteBuffer()
                        buffer.reserveCapacity(payload.count + 8)
                        buffer.writeString("data: ")
                        buffer.writeBytes(payload)
                        buffer.writeString("\n\n")
                        try await writer.write(buffer)
                    case .failed(let error):
                        // Headers are gone already: the error travels as an event, as OpenAI's does.
                        var buffer = ByteBuffer(string: "data: ")
                        buffer.writeBytes((try? JSONCoding.encode(error.body)) ?? Data())
                        buffer.writeString("\n\n")
                        try await writer.write(buffer)
                        await stream.finish()
                        try await writer.finish(nil)
                        return
                    }
                }
                try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                await stream.finish()
                try await writer.finish(nil)
            } catch {
                await stream.finish()
                throw error
            }
        })
    }

    /// A JSON answer with the rate limit headers of the call's admission (uploads, searches,
    /// runs: calls the platform makes on the caller's behalf).
    static func json(_ value: some Encodable, status: HTTPResponse.Status, _ admission: Admission?) throws -> Response {
        var response = try Response.json(value, status: status)
        add(admission?.headers ?? [], to: &response.headers)
        return response
    }

    static func add(_ pairs: [(String, String)], to headers: inout HTTPFields) {
        for (name, value) in pairs {
            if let name = HTTPField.Name(name) { headers[name] = value }
        }
    }
}
