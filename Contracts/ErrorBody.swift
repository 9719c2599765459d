/// The error body of the public API, shaped as OpenAI's so its SDKs raise the right exception:
/// `{"error": {"message", "type", "param", "code"}}`, with `param` and `code` present as null.
public struct ErrorBody: Codable, Sendable, Equatable {
    public struct Detail: Codable, Sendable, Equatable {
        public var message: String
        public var type: ErrorType
        public var code: String?
        /// The request field the error is about, e.g. `messages[0].role`.
        public var param: String?

        public init(message: String, type: ErrorType, code: String? = nil, param: String? = nil) {
            self.message = message
            self.type = type
            self.code = code
            self.param = param
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(message, forKey: .message)
            try container.encode(type, forKey: .type)
            // null, not absent, as OpenAI sends them
            try container.encode(param, forKey: .param)
            try container.encode(code, forKey: .code)
        }
    }

    public var error: Detail

    public init(message: String, type: ErrorType, code: String? = nil, param: String? = nil) {
        self.error = Detail(message: message, type: type, code: code, param: param)
    }
}

/// OpenAI's error types, with the HTTP status each goes with.
public enum ErrorType: String, Codable, Sendable, CaseIterable {
    case invalidRequest = "invalid_request_error"
    case authentication = "authentication_error"
    case permission = "permission_error"
    case notFound = "not_found_error"
    case conflict = "conflict_error"
    case unprocessable = "unprocessable_entity_error"
    case rateLimit = "rate_limit_error"
    case insufficientQuota = "insufficient_quota"
    case server = "server_error"
    case serviceUnavailable = "service_unavailable_error"
    case timeout = "timeout_error"

    public var httpStatus: Int {
        switch self {
        case .invalidRequest: 400
        case .authentication: 401
        case .permission: 403
        case .notFound: 404
        case .conflict: 409
        case .unprocessable: 422
        case .rateLimit, .insufficientQuota: 429
        case .server: 500
        case .serviceUnavailable: 503
        case .timeout: 504
        }
    }
}
