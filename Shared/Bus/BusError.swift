import Contracts

/// What went wrong on the bus, in words an operator can act on.
public enum BusError: Error, CustomStringConvertible, Sendable, Equatable {
    /// No NATS server answered at the configured address.
    case unreachable(url: String, reason: String)
    /// The server's answer could not be read, or a fetch ended with a status it should not.
    case failed(operation: String, status: String, detail: String)
    /// The server refused a JetStream call, with its JetStream error code (e.g. 10059: stream not found).
    case jetStream(operation: String, code: Int, detail: String)
    /// No reply came before the deadline.
    case timedOut(subject: String)
    /// Nobody serves the subject.
    case noResponders(subject: String)
    /// The callee answered with an error.
    case remote(ServiceFault)
    /// A streamed reply arrived with a chunk missing.
    case streamGap(subject: String, expected: Int, received: Int)
    /// The bus was closed.
    case closed

    public var description: String {
        switch self {
        case .unreachable(let url, let reason): "NATS is not reachable at \(url): \(reason)"
        case .failed(let operation, let status, let detail): "NATS \(operation) failed: \(status)\(detail.isEmpty ? "" : " (\(detail))")"
        case .jetStream(let operation, let code, let detail): "JetStream \(operation) failed with error \(code): \(detail)"
        case .timedOut(let subject): "no reply on \(subject) before the deadline"
        case .noResponders(let subject): "no service answers on \(subject)"
        case .remote(let fault): "the service answered \(fault.code): \(fault.message)"
        case .streamGap(let subject, let expected, let received): "streamed reply on \(subject) skipped from chunk \(expected) to \(received)"
        case .closed: "the bus is closed"
        }
    }
}
