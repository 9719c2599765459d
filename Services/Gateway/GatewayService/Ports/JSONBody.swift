import Contracts
import Foundation
import Hummingbird
import NIOCore

/// Reads a JSON request body within the configured size cap, and says which field is wrong
/// when it cannot be read: the message a caller needs to fix the request.
struct JSONBody: Sendable {
    let maxBytes: Int

    func decode<T: Decodable>(_ type: T.Type, from request: Request) async throws -> T {
        try decode(type, from: try await bytes(of: request))
    }

    /// The body as it came, JSON by its content type, within the cap, not empty: for a caller
    /// that checks a signature over the bytes before reading them.
    func bytes(of request: Request) async throws -> Data {
        if let contentType = request.headers[.contentType],
           !contentType.lowercased().hasPrefix("application/json") {
            throw APIError(.invalidRequest, "Content-Type must be application/json, not \(contentType).",
                           code: "unsupported_media_type", status: .unsupportedMediaType)
        }
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maxBytes {
            throw APIError.bodyTooLarge(maxBytes)
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maxBytes)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw APIError.bodyTooLarge(maxBytes)
        } catch is NIOTooManyBytesError {
            // What collecting a body that arrives in several parts throws.
            throw APIError.bodyTooLarge(maxBytes)
        }
        guard buffer.readableBytes > 0 else {
            throw APIError(.invalidRequest, "The request body is empty; it must be a JSON object.", code: "invalid_json")
        }
        return Data(buffer: buffer)
    }

    /// Throws `APIError` only; not declared `throws(APIError)`: Swift 6.3's optimizer crashes
    /// (signal 11, splitting the coroutine) on an async route that inlines it so declared.
    func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        do {
            return try JSONCoding.decode(type, from: data)
        } catch let error as DecodingError {
            throw Self.apiError(error)
        } catch {
            throw APIError(.invalidRequest, "The request body could not be read.", code: "invalid_json")
        }
    }

    static func apiError(_ error: DecodingError) -> APIError {
        switch error {
        case .keyNotFound(let key, let context):
            let path = Self.path(context.codingPath + [key])
            return APIError(.invalidRequest, "Missing required parameter: '\(path)'.", code: "missing_required_parameter", param: path)
        case .typeMismatch(_, let context) where context.codingPath.isEmpty:
            return APIError(.invalidRequest, "The request body must be a JSON object.", code: "invalid_json")
        case .typeMismatch(let type, let context):
            let path = Self.path(context.codingPath)
            return APIError(.invalidRequest, "Invalid type for '\(path)': expected \(Self.describe(type)).", code: "invalid_type", param: path)
        case .valueNotFound(let type, let context):
            let path = Self.path(context.codingPath)
            return APIError(.invalidRequest, "Invalid value for '\(path)': expected \(Self.describe(type)), got null.", code: "invalid_type", param: path)
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            return APIError(.invalidRequest, "The request body is not valid JSON.", code: "invalid_json")
        case .dataCorrupted(let context):
            let path = Self.path(context.codingPath)
            return APIError(.invalidRequest, "Invalid value for '\(path)'.", code: "invalid_value", param: path)
        @unknown default:
            return APIError(.invalidRequest, "The request body could not be read.", code: "invalid_json")
        }
    }

    /// `messages[0].content`, as OpenAI names a field.
    static func path(_ keys: [any CodingKey]) -> String {
        keys.reduce(into: "") { path, key in
            if let index = key.intValue { path += "[\(index)]" } else { path += path.isEmpty ? key.stringValue : ".\(key.stringValue)" }
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type: "an integer"
        case is Double.Type: "a number"
        case is Bool.Type: "a boolean"
        case is [Any].Type: "an array"
        default: "\(type)".contains("Array") ? "an array" : "a value of another shape"
        }
    }
}
