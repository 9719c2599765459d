import Contracts
import Foundation
import HTTPTypes
import Hummingbird

/// Every error the public API answers with: an HTTP status and OpenAI's error body, so an
/// OpenAI SDK raises the matching exception. Lower layers throw errors that say what happened;
/// the initialisers here give each its status and words.
public struct APIError: HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var body: ErrorBody
    public var headers: HTTPFields

    public init(_ type: ErrorType, _ message: String, code: String? = nil, param: String? = nil, status: HTTPResponse.Status? = nil, headers: HTTPFields = [:]) {
        self.status = status ?? HTTPResponse.Status(code: type.httpStatus)
        self.body = ErrorBody(message: message, type: type, code: code, param: param)
        self.headers = headers
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        let data = try JSONCoding.encode(body)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

extension APIError {
    static let missingCredential = APIError(
        .authentication,
        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        code: "missing_api_key")

    static func invalidCredential(_ reason: String = "Incorrect API key provided.") -> APIError {
        APIError(.authentication, reason, code: "invalid_api_key")
    }

    static func forbidden(_ permission: Permission) -> APIError {
        APIError(.permission, "Your role does not allow this (it needs `\(permission.rawValue)`).", code: "insufficient_permissions")
    }

    static func modelNotFound(_ model: String) -> APIError {
        APIError(.invalidRequest, "The model `\(model)` does not exist or you do not have access to it.",
                 code: "model_not_found", param: "model", status: .notFound)
    }

    static func notFound(_ what: String) -> APIError {
        APIError(.notFound, "No such \(what).", code: "not_found")
    }

    static func bodyTooLarge(_ maxBytes: Int) -> APIError {
        APIError(.invalidRequest, "The request body is larger than \(maxBytes) bytes.", code: "request_too_large", status: .contentTooLarge)
    }

    static func invalid(_ param: String, _ message: String) -> APIError {
        APIError(.invalidRequest, message, code: "invalid_value", param: param)
    }

    static let internalError = APIError(.server, "The server had an error while processing your request. Sorry about that!")
}

extension HTTPField.Name {
    static let requestID = HTTPField.Name("x-request-id")!
    static let tenantID = HTTPField.Name("x-tenant-id")!
    static let deployment = HTTPField.Name("x-switchyard-deployment")!
    static let idempotencyKey = HTTPField.Name("idempotency-key")!
    static let idempotentReplayed = HTTPField.Name("idempotent-replayed")!
}
