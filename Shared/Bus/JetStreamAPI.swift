import Contracts
import Foundation

/// JetStream's management API: a request on a `$JS.API.` subject, answered with JSON by the
/// server. It goes through the core connection's reply inbox like any request, so managing
/// streams and consumers needs no connection, client or thread of its own.
extension Bus {
    /// Sends `payload` to `$JS.API.<endpoint>` and reads the answer as `Answer`. The server's
    /// refusal becomes `BusError.jetStream` with its error code (`JetStreamErrorCode`).
    func jetStreamAPI<Answer: Decodable>(
        _ endpoint: String, payload: Data = Data(), answer: Answer.Type, operation: String, timeout: Duration = .seconds(5)
    ) async throws -> Answer {
        let reply = try await exchange(NATSMessage(subject: "$JS.API." + endpoint, payload: payload), timeout: timeout)
        if reply.headers["Status"] == "503" {
            throw BusError.jetStream(operation: operation, code: 503, detail: "JetStream is not enabled on the server")
        }
        if let refusal = try? JSONCoding.decode(APIRefusal.self, from: reply.payload), let error = refusal.error {
            throw error.busError(operation)
        }
        do {
            return try JSONCoding.decode(Answer.self, from: reply.payload)
        } catch {
            throw BusError.failed(operation: operation, status: "unreadable answer", detail: String(decoding: reply.payload.prefix(500), as: UTF8.self))
        }
    }
}

/// JetStream's error codes (`err_code`) that Switchyard acts on.
enum JetStreamErrorCode {
    static let consumerNotFound = 10014
    static let noMessageFound = 10037
    static let sequenceNotFound = 10043
    /// The generic failure of a message deletion; a missing sequence comes through it too.
    static let messageDeleteFailed = 10057
    /// A stream of that name exists with another configuration.
    static let streamNameInUse = 10058
    static let subjectsOverlap = 10065
}

extension BusError {
    /// The JetStream error code of a refusal by the server, if this is one.
    var jetStreamCode: Int? {
        if case .jetStream(_, let code, _) = self { code } else { nil }
    }
}

/// The `error` member every API answer may carry instead of its result.
struct APIRefusal: Decodable {
    struct Failure: Decodable {
        var code: Int?
        var errCode: Int?
        var description: String?

        enum CodingKeys: String, CodingKey {
            case code, description
            case errCode = "err_code"
        }

        func busError(_ operation: String) -> BusError {
            .jetStream(operation: operation, code: errCode ?? code ?? 0, detail: description ?? "")
        }
    }

    var error: Failure?
}

/// A stream's configuration as the API takes it. Durations are nanoseconds; what is not named
/// here takes the server's default (no limit on messages, bytes or consumers).
struct StreamConfiguration: Encodable {
    var name: String
    var subjects: [String]
    var retention = "limits"
    var storage = "file"
    var discard = "old"
    var numReplicas = 1
    var maxAge: Int64
    var duplicateWindow: Int64

    init(_ spec: StreamSpec) {
        name = spec.name
        subjects = spec.subjects
        maxAge = spec.maxAge?.nanoseconds ?? 0
        duplicateWindow = spec.duplicateWindow.nanoseconds
    }

    enum CodingKeys: String, CodingKey {
        case name, subjects, retention, storage, discard
        case numReplicas = "num_replicas"
        case maxAge = "max_age"
        case duplicateWindow = "duplicate_window"
    }
}

/// A consumer's configuration as the API takes it (`CONSUMER.DURABLE.CREATE`, `CONSUMER.CREATE`).
/// Durations are nanoseconds; a member left nil is not sent and takes the server's default.
struct ConsumerConfiguration: Encodable {
    var durableName: String?
    var name: String?
    var deliverPolicy = "all"
    var ackPolicy: String
    var ackWait: Int64?
    var maxDeliver: Int?
    var filterSubject: String
    /// The first stream sequence delivered, under the `by_start_sequence` policy.
    var optStartSequence: UInt64?
    var replayPolicy = "instant"
    var maxAckPending: Int?
    var backoff: [Int64]?
    /// A consumer without a reader for this long is deleted by the server.
    var inactiveThreshold: Int64?

    enum CodingKeys: String, CodingKey {
        case name, backoff
        case durableName = "durable_name"
        case deliverPolicy = "deliver_policy"
        case ackPolicy = "ack_policy"
        case ackWait = "ack_wait"
        case maxDeliver = "max_deliver"
        case filterSubject = "filter_subject"
        case optStartSequence = "opt_start_seq"
        case replayPolicy = "replay_policy"
        case maxAckPending = "max_ack_pending"
        case inactiveThreshold = "inactive_threshold"
    }
}

struct ConsumerCreateRequest: Encodable {
    var streamName: String
    var config: ConsumerConfiguration

    enum CodingKeys: String, CodingKey {
        case config
        case streamName = "stream_name"
    }
}

/// The parts of a consumer's information Switchyard reads.
struct ConsumerInformation: Decodable {
    struct SequenceInfo: Decodable {
        var streamSequence: UInt64

        enum CodingKeys: String, CodingKey { case streamSequence = "stream_seq" }
    }

    var numPending: UInt64
    var numAckPending: Int64
    var ackFloor: SequenceInfo

    enum CodingKeys: String, CodingKey {
        case numPending = "num_pending"
        case numAckPending = "num_ack_pending"
        case ackFloor = "ack_floor"
    }
}

/// The parts of a stream's information Switchyard reads. With a subjects filter the state
/// counts the messages of each matching subject, a page of subjects at a time.
struct StreamInformation: Decodable {
    struct State: Decodable {
        var messages: UInt64
        var firstSequence: UInt64
        var lastSequence: UInt64
        var subjects: [String: UInt64]?

        enum CodingKeys: String, CodingKey {
            case messages, subjects
            case firstSequence = "first_seq"
            case lastSequence = "last_seq"
        }
    }

    var state: State
    /// With a subjects filter: how many subjects match in all, across pages.
    var total: Int?
}

struct StreamInfoRequest: Encodable {
    var subjectsFilter: String
    var offset: Int

    enum CodingKeys: String, CodingKey {
        case offset
        case subjectsFilter = "subjects_filter"
    }
}

/// A message read back from a stream by sequence: headers and data in base64, as the API sends them.
struct StoredMessageAnswer: Decodable {
    struct Message: Decodable {
        var subject: String
        var seq: UInt64
        var hdrs: String?
        var data: String?
        var time: String
    }

    var message: Message
}

struct SequenceRequest: Encodable {
    var seq: UInt64
    /// Deleting: mark the message deleted without overwriting its bytes on disk (cheaper).
    var noErase: Bool?

    enum CodingKeys: String, CodingKey {
        case seq
        case noErase = "no_erase"
    }
}

struct PurgeRequest: Encodable {
    var filter: String?
}

/// `{"success": true}`, the answer to a deletion or purge.
struct SuccessAnswer: Decodable {
    var success: Bool
}
