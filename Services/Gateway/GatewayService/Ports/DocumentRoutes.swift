import Contracts
import Foundation
import Hummingbird

/// `/v1/documents` and `/v1/search`: the caller's tenant's documents, stored and indexed by the
/// ingestion service, and searched by meaning and by words together.
struct DocumentRoutes: Sendable {
    let documents: DocumentCalls
    let body: JSONBody

    func addRoutes(to group: RouterGroup<GatewayContext>) {
        group.post("documents", use: create)
        group.get("documents", use: list)
        group.get("documents/:document", use: show)
        group.post("documents/:document", use: update)
        group.delete("documents/:document", use: delete)
        group.post("search", use: search)
    }

    /// 202: the document is stored and will be searchable once its status is `indexed`.
    func create(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        try caller.require(.documentsWrite)
        let upload = try await body.decode(DocumentUpload.self, from: request)
        // Checked here as well as by ingestion: one this long would not fit in a bus message.
        if upload.data != nil, upload.bytes > DocumentLimits.maxFileBytes {
            throw APIError(.invalidRequest, "The file may be at most \(DocumentLimits.maxFileBytes) bytes.",
                           code: "document_too_large", param: "data", status: .contentTooLarge)
        }
        if let text = upload.text, text.utf8.count > DocumentLimits.maxTextBytes {
            throw APIError(.invalidRequest, "text may be at most \(DocumentLimits.maxTextBytes) bytes of UTF-8.",
                           code: "document_too_large", param: "text", status: .contentTooLarge)
        }
        let (document, admission) = try await documents.create(upload, caller: caller, requestID: context.requestID)
        return try InferenceRoutes.json(document, status: .accepted, admission)
    }

    /// `limit` (1–100, default 20) documents, newest first, after the document `after` names,
    /// with the metadata `metadata[KEY]=VALUE` names if any.
    func list(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        try caller.require(.documentsRead)
        let page = PageQuery(request: request)
        let call = DocumentListCall(
            tenantID: try caller.requireTenant(), limit: try page.limit, after: try page.id("after", of: "document"),
            metadata: Self.metadataFilter(request))
        return try Response.json(try await documents.ingestion.list(call, correlationID: context.requestID))
    }

    func show(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        try caller.require(.documentsRead)
        let call = DocumentCall(tenantID: try caller.requireTenant(), documentID: try Self.documentID(context))
        return try Response.json(try await documents.ingestion.show(call, correlationID: context.requestID))
    }

    /// Changes the document's metadata.
    func update(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        try caller.require(.documentsWrite)
        let documentID = try Self.documentID(context)
        let update = try await body.decode(DocumentUpdate.self, from: request)
        let call = DocumentUpdateCall(tenantID: try caller.requireTenant(), documentID: documentID, update: update)
        return try Response.json(try await documents.ingestion.update(call, correlationID: context.requestID))
    }

    func delete(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        try caller.require(.documentsWrite)
        let call = DocumentCall(tenantID: try caller.requireTenant(), documentID: try Self.documentID(context))
        return try Response.json(try await documents.ingestion.delete(call, correlationID: context.requestID))
    }

    func search(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        try caller.require(.documentsRead)
        let search = try await body.decode(SearchRequest.self, from: request)
        let (results, admission) = try await documents.search(search, caller: caller, requestID: context.requestID)
        return try InferenceRoutes.json(results, status: .ok, admission)
    }

    /// `metadata[KEY]=VALUE` query parameters (OpenAPI's deepObject style) as a filter; nil when
    /// there are none. Ingestion checks the keys and values.
    private static func metadataFilter(_ request: Request) -> [String: String]? {
        var filter: [String: String] = [:]
        for (encoded, value) in request.uri.queryParameters {
            // Hummingbird decodes values, not names: clients send the brackets as %5B and %5D.
            let name = String(encoded).removingPercentEncoding ?? String(encoded)
            guard name.hasPrefix("metadata["), name.hasSuffix("]") else { continue }
            filter[String(name.dropFirst("metadata[".count).dropLast())] = String(value)
        }
        return filter.isEmpty ? nil : filter
    }

    /// A path's document id; one that is not an id names no document.
    private static func documentID(_ context: GatewayContext) throws(APIError) -> UUID {
        guard let text = context.parameters.get("document"), let id = UUID(uuidString: text) else { throw APIError.notFound("document") }
        return id
    }
}
