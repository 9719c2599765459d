/// The error a service answers a bus request with, instead of a reply.
public struct ServiceFault: Codable, Sendable, Equatable, Error {
    /// A stable, machine-readable reason, e.g. `model_not_found`, `deadline_exceeded`.
    public var code: String
    public var message: String
    /// The request field the error is about, when there is one.
    public var param: String?

    public init(code: String, message: String, param: String? = nil) {
        self.code = code
        self.message = message
        self.param = param
    }
}
