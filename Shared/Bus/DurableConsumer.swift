import CNats
import Contracts
import Foundation
import Logging
import Metrics
import NIOPosix
import ServiceLifecycle
import Synchronization

/// How a durable consumer is set up on the server. Every replica of a service uses the same
/// spec and so shares the one consumer: each message goes to one replica at a time.
public struct ConsumerSpec: Sendable {
    /// The durable name; also names the consumer's dead letters (`dlq.<name>.…`).
    public var name: String
    public var stream: String = StreamSpec.events.name
    public var filterSubject: String
    /// How long the server waits for an answer before delivering again.
    public var ackWait: Duration = .seconds(30)
    /// Deliveries before the message goes to the DLQ.
    public var maxDeliver: Int = 5
    /// Waits before each redelivery after an unanswered delivery; when set, the server uses
    /// these instead of `ackWait` (the i-th entry for the i-th redelivery, the last one after).
    public var backoff: [Duration] = []
    /// Messages asked for at once.
    public var batchSize: Int = 32
    /// Messages handled at the same time. A slow or hung handler holds one slot, not the
    /// consumer; when all are taken, fetching waits for one to free. 1 handles in stream order.
    public var maxInFlight: Int = 64
    /// How long one fetch waits for messages before asking again.
    public var fetchWait: Duration = .seconds(1)
    /// After a fetch that brought less than it asked for, waits this long before the next: a
    /// quiet stream is then read several messages per fetch instead of one, at the cost of this
    /// much delay. For consumers that batch their work anyway; zero reads each message at once.
    public var linger: Duration = .zero

    public init(name: String, filterSubject: String) {
        precondition(SubjectToken.isValid(name), "invalid consumer name \(name)")
        self.name = name
        self.filterSubject = filterSubject
    }
}

/// One message handed to a consumer's handler.
public struct Delivery: Sendable {
    public var message: NATSMessage
    public var consumer: String
    public var stream: String
    public var streamSequence: UInt64
    /// 1 on the first delivery.
    public var attempt: Int
    /// The consumer's logger with this message's `correlation_id` and stream sequence.
    public var logger: Logger

    public func decode<Payload: EventPayload>(_ type: Payload.Type) throws -> Envelope<Payload> {
        try JSONCoding.decode(Envelope<Payload>.self, from: message.payload)
    }
}

/// What a handler answers for a delivery.
public enum HandlerOutcome: Sendable, Equatable {
    /// Handled (or had been handled before): acknowledge.
    case done
    /// Failed in a way that may pass: deliver again after the delay, until max-deliver.
    case retry(after: Duration)
    /// Can never succeed (unreadable, invalid): copy to the DLQ now and stop delivering.
    case poison(reason: String)
}

/// A pull consumer on a stream that hands each message to `handler` and acknowledges,
/// redelivers or dead-letters it by the handler's answer.
///
/// Fetches wait on a thread of the consumer's own. On graceful shutdown it stops fetching,
/// lets the handlers in hand finish and answers them, then returns.
public final class DurableConsumer: Service, Sendable {
    public typealias Handler = @Sendable (Delivery) async -> HandlerOutcome

    let bus: Bus
    let spec: ConsumerSpec
    let handler: Handler
    let logger: Logger
    let deadLetters: DeadLetterQueue

    public init(bus: Bus, spec: ConsumerSpec, logger: Logger, handler: @escaping Handler) {
        self.bus = bus
        self.spec = spec
        self.handler = handler
        var logger = logger
        logger[metadataKey: "consumer"] = "\(spec.name)"
        self.logger = logger
        self.deadLetters = DeadLetterQueue(bus: bus)
    }

    public func run() async throws {
        try await ensureConsumer()
        let fetchThread = NIOThreadPool(numberOfThreads: 1)
        fetchThread.start()
        let pullSubscription = try await bind()
        let advisories = try watchMaxDeliveries()
        logger.info("consuming", metadata: ["stream": "\(spec.stream)", "filter": "\(spec.filterSubject)"])
        let stopping = StopSignal()
        let slots = InFlightSlots(spec.maxInFlight)
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.reportBacklog(until: stopping) }
                // A flag, not task cancellation: handlers in hand must finish, not be cancelled.
                while !stopping.isRaised && !Task.isCancelled {
                    let free = await slots.waitForFree()
                    guard free > 0 else { break }
                    do {
                        let batch = min(free, self.spec.batchSize)
                        let deliveries = try await fetchThread.runIfActive { try pullSubscription.fetch(batch) }
                        for delivery in deliveries {
                            slots.take()
                            group.addTask {
                                await self.process(delivery)
                                slots.release()
                            }
                        }
                        if deliveries.count < batch && self.spec.linger > .zero {
                            try? await Task.sleep(for: self.spec.linger)
                        }
                    } catch {
                        guard !stopping.isRaised && !Task.isCancelled else { break }
                        self.logger.warning("fetch failed; trying again", metadata: ["error": "\(error)"])
                        try? await Task.sleep(for: .seconds(1))
                    }
                }
            }
        } onGracefulShutdown: {
            stopping.raise()
            slots.close()
        }
        advisories.drain()
        try? await fetchThread.shutdownGracefully()
        logger.info("consumer stopped")
    }

    /// Every 10 s, what on-call watches: messages waiting for this consumer
    /// (`switchyard_consumer_pending_messages`), delivered and not yet answered
    /// (`switchyard_consumer_unacknowledged_messages`), and its dead letters
    /// (`switchyard_dead_letter_queue_messages`). Every replica reports the same figures.
    private func reportBacklog(until stopping: StopSignal) async {
        let consumer = [("consumer", spec.name)]
        while !stopping.isRaised && !Task.isCancelled {
            do {
                let backlog = try await bus.consumerBacklog(stream: spec.stream, consumer: spec.name)
                Gauge(label: "switchyard_consumer_pending_messages", dimensions: consumer).record(Double(backlog.pending))
                Gauge(label: "switchyard_consumer_unacknowledged_messages", dimensions: consumer).record(Double(backlog.unacknowledged))
                let dead = try await bus.messageCount(stream: DeadLetterQueue.stream, subjects: Subject.deadLetters(consumer: spec.name))
                Gauge(label: "switchyard_dead_letter_queue_messages", dimensions: consumer).record(Double(dead))
            } catch {
                logger.debug("backlog not read", metadata: ["error": "\(error)"])
            }
            for _ in 0..<20 where !stopping.isRaised && !Task.isCancelled { try? await Task.sleep(for: .milliseconds(500)) }
        }
    }

    /// Creates the durable consumer or updates its settings; every replica does this at start.
    private func ensureConsumer() async throws {
        let spec = self.spec
        let bus = self.bus
        try await bus.blocking {
            var config = jsConsumerConfig()
            jsConsumerConfig_Init(&config)
            config.AckPolicy = js_AckExplicit
            config.DeliverPolicy = js_DeliverAll
            config.AckWait = spec.ackWait.nanoseconds
            config.MaxDeliver = Int64(spec.maxDeliver)
            config.MaxAckPending = Int64(max(1000, spec.maxInFlight * 4))
            var backoff = spec.backoff.map(\.nanoseconds)
            try spec.name.withCString { name in
                try spec.filterSubject.withCString { filter in
                    try backoff.withUnsafeMutableBufferPointer { backoff in
                        config.Durable = name
                        config.FilterSubject = filter
                        config.BackOff = backoff.baseAddress
                        config.BackOffLen = Int32(backoff.count)
                        var info: UnsafeMutablePointer<jsConsumerInfo>?
                        var code = jsErrCode(rawValue: 0)
                        var status = js_GetConsumerInfo(&info, bus.jetStream, spec.stream, spec.name, nil, &code)
                        jsConsumerInfo_Destroy(info)
                        info = nil
                        if status == NATS_NOT_FOUND || code == JSConsumerNotFoundErr {
                            code = jsErrCode(rawValue: 0)
                            status = js_AddConsumer(&info, bus.jetStream, spec.stream, &config, nil, &code)
                        } else if status == NATS_OK {
                            status = js_UpdateConsumer(&info, bus.jetStream, spec.stream, &config, nil, &code)
                        }
                        jsConsumerInfo_Destroy(info)
                        try check(status, "consumer \(spec.name) on \(spec.stream)", jsCode: code)
                    }
                }
            }
        }
    }

    private func bind() async throws -> PullSubscription {
        let spec = self.spec
        let bus = self.bus
        let logger = self.logger
        return try await bus.blocking {
            var options = jsSubOptions()
            jsSubOptions_Init(&options)
            var handle: OpaquePointer?
            var code = jsErrCode(rawValue: 0)
            let status = spec.stream.withCString { stream in
                spec.name.withCString { name in
                    options.Stream = stream
                    options.Consumer = name
                    return js_PullSubscribe(&handle, bus.jetStream, spec.filterSubject, name, nil, &options, &code)
                }
            }
            try check(status, "bind to consumer \(spec.name)", jsCode: code)
            return PullSubscription(handle: handle!, spec: spec, logger: logger)
        }
    }

    /// The server gives up on a message after max-deliver unanswered deliveries (a handler that
    /// hung or a process that died each time) and says so in an advisory naming its sequence.
    private func watchMaxDeliveries() throws -> Subscription {
        let subject = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.\(spec.stream).\(spec.name)"
        return try Subscription(bus: bus, subject: subject, queue: spec.name) { [deadLetters, spec, logger] message in
            guard let advisory = try? JSONDecoder().decode(MaxDeliveriesAdvisory.self, from: message.payload) else { return }
            Task {
                do {
                    try await deadLetters.copyStored(
                        stream: spec.stream, sequence: advisory.streamSequence, consumer: spec.name,
                        deliveries: advisory.deliveries, error: "no answer within the ack wait after \(advisory.deliveries) deliveries")
                    Counter(label: "switchyard_dead_letters_total", dimensions: [("consumer", spec.name)]).increment()
                } catch {
                    logger.error("could not dead-letter a message past max-deliver", metadata: [
                        "sequence": "\(advisory.streamSequence)", "error": "\(error)",
                    ])
                }
            }
        }
    }

    private func process(_ delivery: Delivery) async {
        guard let replyTo = delivery.message.replyTo else { return }
        if let target = delivery.message.headers[BusHeader.replayFor], target != spec.name {
            acknowledge(replyTo, "+ACK")  // a dead letter replayed for another consumer
            return
        }
        let started = ContinuousClock.now
        let outcome = await handler(delivery)
        Timer(label: "switchyard_consumer_handle_seconds", dimensions: [("consumer", spec.name)]).record(duration: started.duration(to: .now))
        Counter(label: "switchyard_consumer_messages_total", dimensions: [
            ("consumer", spec.name), ("outcome", outcome.metricLabel),
        ]).increment()
        switch outcome {
        case .done:
            acknowledge(replyTo, "+ACK")
        case .retry(let delay) where delivery.attempt < spec.maxDeliver:
            // Nak with a delay: a bare nak redelivers at once and hammers a failing dependency.
            acknowledge(replyTo, "-NAK {\"delay\": \(delay.nanoseconds)}")
        case .retry:
            await deadLetter(delivery, replyTo: replyTo, error: "still failing after \(delivery.attempt) deliveries")
        case .poison(let reason):
            await deadLetter(delivery, replyTo: replyTo, error: reason)
        }
    }

    /// Copies the message to the DLQ, then terminates it. If the copy fails the message is
    /// delivered again later rather than lost.
    private func deadLetter(_ delivery: Delivery, replyTo: String, error: String) async {
        do {
            try await deadLetters.copy(delivery, error: error)
            acknowledge(replyTo, "+TERM")
            Counter(label: "switchyard_dead_letters_total", dimensions: [("consumer", spec.name)]).increment()
            delivery.logger.warning("message dead-lettered", metadata: ["subject": "\(delivery.message.subject)", "error": "\(error)"])
        } catch {
            logger.error("could not dead-letter a message; it will be delivered again", metadata: ["error": "\(error)"])
            acknowledge(replyTo, "-NAK {\"delay\": \(Duration.seconds(5).nanoseconds)}")
        }
    }

    private func acknowledge(_ replyTo: String, _ answer: String) {
        do {
            try bus.publish(NATSMessage(subject: replyTo, payload: Data(answer.utf8)))
        } catch {
            // Unanswered, the message comes back after the ack wait; handlers are idempotent.
            logger.warning("acknowledgement not sent", metadata: ["error": "\(error)"])
        }
    }
}

/// Counts the handlers running, so the fetch loop asks only for what it can start.
final class InFlightSlots: Sendable {
    private struct State {
        var free: Int
        var closed = false
        var waiter: CheckedContinuation<Int, Never>?
    }
    private let state: Mutex<State>

    init(_ capacity: Int) {
        state = Mutex(State(free: max(1, capacity)))
    }

    /// The number of free slots once there is one; 0 once closed.
    func waitForFree() async -> Int {
        await withCheckedContinuation { continuation in
            let ready: Int? = state.withLock { state in
                if state.closed { return 0 }
                if state.free > 0 { return state.free }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    func take() {
        state.withLock { $0.free -= 1 }
    }

    func release() {
        let waiter = state.withLock { state -> (CheckedContinuation<Int, Never>, Int)? in
            state.free += 1
            guard let waiter = state.waiter else { return nil }
            state.waiter = nil
            return (waiter, state.closed ? 0 : state.free)
        }
        if let (continuation, free) = waiter { continuation.resume(returning: free) }
    }

    /// Wakes the fetch loop so it can stop.
    func close() {
        let waiter = state.withLock { state -> CheckedContinuation<Int, Never>? in
            state.closed = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: 0)
    }
}

/// Set once, from any thread, to ask a loop to stop after its current turn.
final class StopSignal: Sendable {
    private let raised = Atomic(false)
    var isRaised: Bool { raised.load(ordering: .acquiring) }
    func raise() { raised.store(true, ordering: .releasing) }
}

extension HandlerOutcome {
    var metricLabel: String {
        switch self {
        case .done: "done"
        case .retry: "retry"
        case .poison: "poison"
        }
    }
}

private struct MaxDeliveriesAdvisory: Decodable {
    var streamSequence: UInt64
    var deliveries: Int

    enum CodingKeys: String, CodingKey {
        case streamSequence = "stream_seq"
        case deliveries
    }
}

/// A bound pull subscription. `fetch` blocks: call it on the consumer's own thread.
final class PullSubscription: @unchecked Sendable {
    let handle: OpaquePointer
    let spec: ConsumerSpec
    let logger: Logger

    init(handle: OpaquePointer, spec: ConsumerSpec, logger: Logger) {
        self.handle = handle
        self.spec = spec
        self.logger = logger
    }

    func fetch(_ batch: Int) throws -> [Delivery] {
        var list = natsMsgList()
        var code = jsErrCode(rawValue: 0)
        let status = natsSubscription_Fetch(&list, handle, Int32(batch), spec.fetchWait.milliseconds, &code)
        if status == NATS_TIMEOUT { return [] }  // nothing to do
        try check(status, "fetch from \(spec.name)", jsCode: code)
        defer { natsMsgList_Destroy(&list) }
        return (0..<Int(list.Count)).compactMap { index in
            guard let cMessage = list.Msgs[index] else { return nil }
            var metadata: UnsafeMutablePointer<jsMsgMetaData>?
            guard natsMsg_GetMetaData(&metadata, cMessage) == NATS_OK, let metadata else { return nil }
            defer { jsMsgMetaData_Destroy(metadata) }
            let message = NATSMessage(copying: cMessage)
            var logger = self.logger
            logger[metadataKey: "sequence"] = "\(metadata.pointee.Sequence.Stream)"
            if let correlationID = message.headers[BusHeader.correlationID] {
                logger[metadataKey: "correlation_id"] = "\(correlationID)"
            }
            return Delivery(
                message: message, consumer: spec.name, stream: spec.stream,
                streamSequence: metadata.pointee.Sequence.Stream, attempt: Int(metadata.pointee.NumDelivered), logger: logger)
        }
    }

    deinit {
        // Destroy, not unsubscribe: unsubscribing would delete the durable consumer.
        natsSubscription_Destroy(handle)
    }
}
