import CNats
import Contracts

/// What went wrong on the bus, in words an operator can act on.
public enum BusError: Error, CustomStringConvertible, Sendable, Equatable {
    /// No NATS server answered at the configured address.
    case unreachable(url: String, reason: String)
    /// A call into the NATS client failed.
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

/// Throws when a C call did not return `NATS_OK`, with the client's own account of why.
func check(_ status: natsStatus, _ operation: @autoclosure () -> String, jsCode: jsErrCode = jsErrCode(rawValue: 0)) throws(BusError) {
    guard status != NATS_OK else { return }
    throw busError(status, operation(), jsCode: jsCode)
}

func busError(_ status: natsStatus, _ operation: String, jsCode: jsErrCode = jsErrCode(rawValue: 0)) -> BusError {
    let detail = lastErrorText()
    if jsCode.rawValue != 0 {
        return .jetStream(operation: operation, code: Int(jsCode.rawValue), detail: detail)
    }
    let text = natsStatus_GetText(status).map { String(cString: $0) } ?? "status \(status.rawValue)"
    return .failed(operation: operation, status: text, detail: detail == text ? "" : detail)
}

/// The client's account of the last error on this thread, e.g. the server's words.
func lastErrorText() -> String {
    var lastStatus = NATS_OK
    return nats_GetLastError(&lastStatus).map { String(cString: $0) } ?? ""
}
