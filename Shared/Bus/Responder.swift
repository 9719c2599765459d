import Contracts
import Foundation
import Logging
import Metrics
import ServiceLifecycle

/// A request received by a responder.
public struct BusRequest: Sendable {
    public var message: NATSMessage
    /// When the caller stops waiting; nil when it sent no deadline.
    public var deadline: Date?
    /// The responder's logger with this request's `correlation_id`.
    public var logger: Logger

    public var payload: Data { message.payload }
    public var correlationID: String? { message.headers[BusHeader.correlationID] }

    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONCoding.decode(type, from: message.payload)
    }
}

/// One reply to a request.
public struct BusReply: Sendable {
    public var payload: Data
    public var headers: [String: String]

    public init(payload: Data, headers: [String: String] = [:]) {
        self.payload = payload
        self.headers = headers
    }
}

/// Sends the chunks of a streamed reply, numbered from 0. The responder sends the final chunk
/// when the handler returns.
public struct ReplyStreamWriter: Sendable {
    let bus: Bus
    let replyTo: String
    let counter: ChunkCounter

    public func send(_ payload: Data, headers: [String: String] = [:]) throws {
        var headers = headers
        headers[BusHeader.chunk] = String(counter.next())
        try bus.publish(NATSMessage(subject: replyTo, headers: headers, payload: payload))
    }

    func finish() throws {
        try bus.publish(NATSMessage(subject: replyTo, headers: [
            BusHeader.chunk: String(counter.next()), BusHeader.final: "true",
        ]))
    }
}

final class ChunkCounter: @unchecked Sendable {
    // Only the one handler task that owns the writer touches this.
    private var value = 0
    func next() -> Int {
        defer { value += 1 }
        return value
    }
}

/// Serves `subject` in a queue group, so every replica of a service shares the requests.
///
/// Each request runs in its own task, cancelled when the caller's deadline passes: the caller
/// has stopped waiting, so work past it is wasted. On graceful shutdown it drains: no new
/// requests are taken, requests already received are answered, then `run()` returns.
public final class Responder: Service, Sendable {
    public enum Handler: Sendable {
        /// Answers with one reply and its headers.
        case reply(@Sendable (BusRequest) async throws -> BusReply)
        /// Answers with chunks sent through the writer, then a final chunk.
        case streaming(@Sendable (BusRequest, ReplyStreamWriter) async throws -> Void)

        /// Answers with one reply that needs no headers.
        public static func unary(_ body: @escaping @Sendable (BusRequest) async throws -> Data) -> Handler {
            .reply { BusReply(payload: try await body($0)) }
        }
    }

    let bus: Bus
    let subject: String
    let queue: String
    let handler: Handler
    let logger: Logger

    public init(bus: Bus, subject: String, queue: String, logger: Logger, handler: Handler) {
        self.bus = bus
        self.subject = subject
        self.queue = queue
        self.handler = handler
        self.logger = logger
    }

    public func run() async throws {
        let (requests, continuation) = AsyncStream.makeStream(of: NATSMessage.self)
        let subscription = try Subscription(
            bus: bus, subject: subject, queue: queue,
            onMessage: { continuation.yield($0) },
            onComplete: { continuation.finish() })
        logger.info("serving requests", metadata: ["subject": "\(subject)", "queue": "\(queue)"])
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for await message in requests {
                    group.addTask { await self.answer(message) }
                }
            }
        } onGracefulShutdown: {
            subscription.drain()
        }
        withExtendedLifetime(subscription) {}
    }

    private func answer(_ message: NATSMessage) async {
        guard let replyTo = message.replyTo else {
            logger.warning("request without a reply subject dropped", metadata: ["subject": "\(message.subject)"])
            return
        }
        let deadline = message.headers[BusHeader.deadline].flatMap(Int64.init).map {
            Date(timeIntervalSince1970: Double($0) / 1000)
        }
        var logger = self.logger
        logger[metadataKey: "subject"] = "\(message.subject)"
        if let correlationID = message.headers[BusHeader.correlationID] {
            logger[metadataKey: "correlation_id"] = "\(correlationID)"
        }
        let request = BusRequest(message: message, deadline: deadline, logger: logger)
        let started = ContinuousClock.now
        defer {
            Timer(label: "switchyard_bus_request_handle_seconds", dimensions: [("subject", subject)])
                .record(duration: started.duration(to: .now))
        }
        let remaining = deadline.map { $0.timeIntervalSinceNow } ?? .infinity
        guard remaining > 0 else {
            logger.debug("request arrived after its deadline")
            return
        }
        do {
            try await withDeadline(seconds: remaining) {
                switch self.handler {
                case .reply(let handle):
                    let reply = try await handle(request)
                    try self.bus.publish(NATSMessage(subject: replyTo, headers: reply.headers, payload: reply.payload))
                case .streaming(let handle):
                    try await self.stream(request, replyTo: replyTo, handle)
                }
            }
        } catch is DeadlinePassed {
            logger.info("request cancelled at its deadline")
            Counter(label: "switchyard_bus_requests_expired_total", dimensions: [("subject", subject)]).increment()
        } catch is CancellationError {
            // Stopped without a graceful drain: say so rather than leave the caller waiting.
            try? bus.publish(NATSMessage(
                subject: replyTo, headers: [BusHeader.fault: "service_stopped"],
                payload: (try? JSONCoding.encode(ServiceFault(code: "service_stopped", message: "the service stopped before it answered"))) ?? Data()))
        } catch {
            let fault = (error as? ServiceFault) ?? ServiceFault(code: "internal_error", message: "the service failed to answer")
            if !(error is ServiceFault) {
                logger.error("request failed", metadata: ["error": "\(error)"])
            }
            try? bus.publish(NATSMessage(
                subject: replyTo, headers: [BusHeader.fault: fault.code], payload: (try? JSONCoding.encode(fault)) ?? Data()))
        }
    }

    /// Runs a streaming handler until it returns, the deadline passes or the caller cancels.
    private func stream(
        _ request: BusRequest, replyTo: String,
        _ handle: @escaping @Sendable (BusRequest, ReplyStreamWriter) async throws -> Void
    ) async throws {
        let writer = ReplyStreamWriter(bus: bus, replyTo: replyTo, counter: ChunkCounter())
        let cancelled = AsyncStream.makeStream(of: Void.self)
        let cancelSubscription = try Subscription(
            bus: bus, subject: StreamCancellation.subject(forReply: replyTo),
            onMessage: { _ in cancelled.continuation.yield() })
        defer { cancelSubscription.drain() }
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await handle(request, writer)
                return true
            }
            group.addTask {
                for await _ in cancelled.stream { return false }
                return false
            }
            let completed = try await group.next() ?? false
            group.cancelAll()
            cancelled.continuation.finish()
            if completed { try writer.finish() }
        }
    }
}

struct DeadlinePassed: Error {}

/// Runs `body`, cancelling it when `seconds` have passed.
func withDeadline<T: Sendable>(seconds: TimeInterval, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    guard seconds.isFinite else { return try await body() }
    return try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
            throw DeadlinePassed()
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}
