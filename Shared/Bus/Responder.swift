import Contracts
import Foundation
import Logging
import Metrics
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// A request received by a responder.
public struct BusRequest: Sendable {
    public var message: NATSMessage
    /// When the caller stops waiting; nil when it sent no deadline.
    public var deadline: Date?
    /// The responder's logger with this request's `correlation_id`.
    public var logger: Logger

    public var payload: Data { message.payload }
    public var correlationID: String? { message.headers[BusHeader.correlationID] }

    /// The request's call; one that cannot be read is the caller's fault (`invalid_request`).
    public func decode<T: Decodable>(_ type: T.Type) throws(ServiceFault) -> T {
        do {
            return try JSONCoding.decode(type, from: message.payload)
        } catch {
            throw ServiceFault(code: "invalid_request", message: "The call could not be read: \(error)")
        }
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
    let flow: StreamFlow

    /// Sends the next chunk once the caller's window allows it: waits while the caller has
    /// not read far enough, and throws `CancellationError` when it stopped listening.
    public func send(_ payload: Data, headers: [String: String] = [:]) async throws {
        let index = counter.next()
        try await flow.mayServe(index)
        var headers = headers
        headers[BusHeader.chunk] = String(index)
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

/// Serves `subject` in a queue group, so every replica of a service shares the requests; or,
/// without one, on every replica, each answering (for `Bus.gather`).
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
    let queue: String?
    let handler: Handler
    let logger: Logger
    let flows = StreamFlows()

    public init(bus: Bus, subject: String, queue: String?, logger: Logger, handler: Handler) {
        self.bus = bus
        self.subject = subject
        self.queue = queue
        self.handler = handler
        self.logger = logger
    }

    /// A service's verb (`svc.<service>.<verb>`, shared by its replicas in the queue group
    /// `<service>`) that reads each call as `Call` and answers with `Answer` as JSON.
    public static func verb<Call: Decodable & SendableMetatype, Answer: Encodable & SendableMetatype>(
        _ service: ServiceName, _ verb: String, bus: Bus, logger: Logger, _ answer: @escaping @Sendable (Call) async throws -> Answer
    ) -> Responder {
        Responder(bus: bus, subject: Subject.service(service, verb), queue: service.rawValue, logger: logger,
                  handler: .unary { request in try JSONCoding.encode(try await answer(try request.decode(Call.self))) })
    }

    public func run() async throws {
        let (requests, continuation) = AsyncStream.makeStream(of: NATSMessage.self)
        // One subscription for the control messages of every stream this responder sends,
        // rather than one per stream.
        let control: Subscription? = if case .streaming = handler {
            try Subscription(bus: bus, subject: StreamControl.everyStream, onMessage: { [flows] in flows.control($0) })
        } else {
            nil
        }
        let subscription = try Subscription(
            bus: bus, subject: subject, queue: queue,
            onMessage: { continuation.yield($0) },
            onComplete: { continuation.finish() })
        logger.info("serving requests", metadata: ["subject": "\(subject)", "queue": "\(queue ?? "none: every replica answers")"])
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for await message in requests {
                    group.addTask { await self.answer(message) }
                }
            }
        } onGracefulShutdown: {
            subscription.drain()
        }
        control?.drain()
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
        let window = request.message.headers[BusHeader.streamWindow].flatMap(Int.init).flatMap { $0 > 0 ? $0 : nil }
        let flow = flows.open(replyTo, window: window)
        defer { flows.close(replyTo) }
        let writer = ReplyStreamWriter(bus: bus, replyTo: replyTo, counter: ChunkCounter(), flow: flow)
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await handle(request, writer)
                return true
            }
            group.addTask {
                for await _ in flow.cancellations { return false }
                return false
            }
            let completed = try await group.next() ?? false
            group.cancelAll()
            flow.finish()
            if completed { try writer.finish() }
        }
    }
}

/// The streams a responder is sending, by reply subject, and what their callers said.
final class StreamFlows: Sendable {
    private struct State {
        var flows: [String: StreamFlow] = [:]
        /// Cancellations that came before their stream started, kept a little while.
        var early: [String] = []
    }
    private let state = Mutex(State())

    func open(_ replyTo: String, window: Int?) -> StreamFlow {
        let flow = StreamFlow(window: window)
        let cancelledAlready = state.withLock { state in
            state.flows[replyTo] = flow
            guard let index = state.early.firstIndex(of: replyTo) else { return false }
            state.early.remove(at: index)
            return true
        }
        if cancelledAlready { flow.cancel() }
        return flow
    }

    func close(_ replyTo: String) {
        _ = state.withLock { $0.flows.removeValue(forKey: replyTo) }
    }

    /// A `cancel` or `read` from a caller; one for another replica's stream is ignored.
    func control(_ message: NATSMessage) {
        guard let replyTo = StreamControl.reply(ofControlSubject: message.subject) else { return }
        let kind = message.headers[BusHeader.streamControl]
        let flow: StreamFlow? = state.withLock { state in
            if let flow = state.flows[replyTo] { return flow }
            // Perhaps this replica's stream, not started yet: remember a few.
            if kind == StreamControl.cancel {
                state.early.append(replyTo)
                if state.early.count > 256 { state.early.removeFirst() }
            }
            return nil
        }
        switch kind {
        case StreamControl.cancel: flow?.cancel()
        case StreamControl.read: message.headers[BusHeader.streamRead].flatMap(Int.init).map { flow?.read($0) }
        default: break
        }
    }
}

/// One stream's flow control: how far its caller has read, and whether it stopped listening.
final class StreamFlow: Sendable {
    private struct State {
        var read = 0
        var cancelled = false
        var taskCancelled = false
        var waiter: CheckedContinuation<Void, any Error>?
    }

    /// Nil: the caller sent no window (it reads everything as it comes).
    let window: Int?
    private let state = Mutex(State())
    let cancellations: AsyncStream<Void>
    private let cancellation: AsyncStream<Void>.Continuation

    init(window: Int?) {
        self.window = window
        (cancellations, cancellation) = AsyncStream.makeStream(of: Void.self)
    }

    /// Returns when chunk `index` may be sent: fewer than `window` chunks ahead of what the
    /// caller has read.
    func mayServe(_ index: Int) async throws {
        guard let window else { return }
        while true {
            let ready = try state.withLock { state -> Bool in
                if state.cancelled || state.taskCancelled { throw CancellationError() }
                return index < state.read + window
            }
            if ready { return }
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                    let resumeNow: Result<Void, any Error>? = state.withLock { state in
                        if state.cancelled || state.taskCancelled { return .failure(CancellationError()) }
                        if index < state.read + window { return .success(()) }
                        state.waiter = continuation
                        return nil
                    }
                    if let resumeNow { continuation.resume(with: resumeNow) }
                }
            } onCancel: {
                let waiter = state.withLock { state in
                    state.taskCancelled = true
                    defer { state.waiter = nil }
                    return state.waiter
                }
                waiter?.resume(throwing: CancellationError())
            }
        }
    }

    func read(_ count: Int) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            guard count > state.read else { return nil }
            state.read = count
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    func cancel() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            state.cancelled = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(throwing: CancellationError())
        cancellation.yield()
    }

    func finish() {
        cancellation.finish()
    }
}
