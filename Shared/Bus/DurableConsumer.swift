import Contracts
import Foundation
import Logging
import Metrics
import NIOCore
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
    /// While a handler runs, tell the server this often that it is still at work (`+WPI`), so
    /// that a short `ackWait` redelivers the message soon after a replica dies without cutting
    /// off a handler that is merely slow. Nil for handlers that finish well within `ackWait`.
    public var progressInterval: Duration?

    public init(name: String, filterSubject: String) {
        precondition(SubjectToken.isValid(name), "invalid consumer name \(name)")
        self.name = name
        self.filterSubject = filterSubject
    }

    /// A consumer of long work (a document to index, a run to carry out), shared by replicas:
    /// a few messages at a time, the replica at work reporting progress every third of
    /// `ackWait`, so a replica that dies leaves its work to another that long after; many
    /// deliveries, for handlers that wait on a commit or an outage before they give up.
    public static func longWork(name: String, filterSubject: String, ackWait: Duration, inFlight: Int) -> ConsumerSpec {
        var spec = ConsumerSpec(name: name, filterSubject: filterSubject)
        spec.ackWait = ackWait
        spec.progressInterval = ackWait / 3
        spec.maxInFlight = inFlight
        spec.batchSize = inFlight
        spec.maxDeliver = 40
        return spec
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

    /// For an event that announces a row its publisher commits just after publishing (so that
    /// nothing is committed unannounced) and whose row is not there yet: ask again soon, then
    /// less often, until `patience` after the event; past it, the row was never committed.
    public static func awaitingCommit(since occurredAt: Date, attempt: Int, maxDeliver: Int, patience: TimeInterval = 60) -> HandlerOutcome {
        guard Date().timeIntervalSince(occurredAt) < patience, attempt < maxDeliver else { return .done }
        return .retry(after: .milliseconds(min(5_000, 50 << min(attempt, 7))))
    }
}

/// A pull consumer on a stream that hands each message to `handler` and acknowledges,
/// redelivers or dead-letters it by the handler's answer.
///
/// Fetches go over the core connection. On graceful shutdown it stops fetching,
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
        let pullSubscription = try PullSubscription(bus: bus, spec: spec, logger: logger)
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
                        let deliveries = try await pullSubscription.fetch(batch)
                        for delivery in deliveries {
                            slots.take()
                            group.addTask {
                                await self.process(delivery)
                                slots.release()
                            }
                        }
                        if deliveries.count < batch && self.spec.linger > .zero {
                            await pause(for: self.spec.linger)
                        }
                    } catch {
                        guard !stopping.isRaised && !Task.isCancelled else { break }
                        self.logger.warning("fetch failed; trying again", metadata: ["error": "\(error)"])
                        try? await Task.sleep(for: .seconds(1))
                        guard !stopping.isRaised && !Task.isCancelled else { break }
                        // A consumer deleted under the service (an operator resetting it) is made
                        // again, as a restart would make it; the server drops pulls for a
                        // consumer it does not have without a word.
                        do {
                            try await self.ensureConsumer()
                        } catch {
                            self.logger.warning("consumer not made again", metadata: ["error": "\(error)"])
                        }
                    }
                }
            }
        } onGracefulShutdown: {
            stopping.raise()
            slots.close()
        }
        advisories.drain()
        pullSubscription.close()
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
    /// The server makes a durable consumer that is not there and brings one that is to this
    /// configuration.
    private func ensureConsumer() async throws {
        let configuration = ConsumerConfiguration(
            durableName: spec.name, ackPolicy: "explicit", ackWait: spec.ackWait.nanoseconds,
            maxDeliver: spec.maxDeliver, filterSubject: spec.filterSubject,
            maxAckPending: max(1000, spec.maxInFlight * 4),
            backoff: spec.backoff.isEmpty ? nil : spec.backoff.map(\.nanoseconds))
        _ = try await bus.jetStreamAPI(
            "CONSUMER.DURABLE.CREATE.\(spec.stream).\(spec.name)",
            payload: JSONCoding.encode(ConsumerCreateRequest(streamName: spec.stream, config: configuration)),
            answer: ConsumerInformation.self, operation: "consumer \(spec.name) on \(spec.stream)")
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
        let outcome = await handle(delivery, replyTo: replyTo)
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

    /// The handler's outcome; with a progress interval, the server is told meanwhile that the
    /// message is still being worked on.
    private func handle(_ delivery: Delivery, replyTo: String) async -> HandlerOutcome {
        guard let interval = spec.progressInterval else { return await handler(delivery) }
        return await withTaskGroup(of: HandlerOutcome?.self) { group in
            group.addTask { await self.handler(delivery) }
            group.addTask {
                while (try? await Task.sleep(for: interval)) != nil { self.acknowledge(replyTo, "+WPI") }
                return nil
            }
            var outcome: HandlerOutcome?
            while outcome == nil, let next = await group.next() { outcome = next }
            group.cancelAll()
            return outcome ?? .retry(after: .seconds(1))
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

/// A pull consumer's fetches, over the core connection. A fetch asks the server for up to a
/// batch (`$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>`), delivered to an inbox of this
/// subscription's own. With `no_wait` and `expires` the server sends what it has at once, or the
/// first message to arrive within `expires`, and then ends the request with a status (408
/// Request Timeout, 404 No Messages) unless the batch was filled.
final class PullSubscription: Sendable {
    private struct Fetch {
        var replySubject: String
        var batch: Int
        var continuation: CheckedContinuation<[NATSMessage], any Error>
        var timer: Scheduled<Void>?
    }

    private struct State {
        /// Messages delivered and not yet handed out: the current fetch's, or late ones of an
        /// earlier fetch that was given up.
        var delivered: [NATSMessage] = []
        var fetch: Fetch?
    }

    let bus: Bus
    let spec: ConsumerSpec
    let logger: Logger
    private let inbox = ReplyInbox.makePrefix()
    private let requestSubject: String
    private let state = Mutex(State())
    private let fetches = Atomic<UInt64>(0)
    private let subscription: Mutex<Subscription?> = Mutex(nil)

    init(bus: Bus, spec: ConsumerSpec, logger: Logger) throws(BusError) {
        self.bus = bus
        self.spec = spec
        self.logger = logger
        requestSubject = "$JS.API.CONSUMER.MSG.NEXT.\(spec.stream).\(spec.name)"
        let subscription = try Subscription(bus: bus, subject: inbox + ".*") { [weak self] message in
            self?.received(message)
        }
        self.subscription.withLock { $0 = subscription }
    }

    /// Up to `batch` deliveries: what the consumer has now, or the first to come within
    /// `spec.fetchWait`; none when nothing came.
    func fetch(_ batch: Int) async throws -> [Delivery] {
        let replySubject = "\(inbox).\(fetches.wrappingAdd(1, ordering: .relaxed).newValue)"
        let request = #"{"batch":\#(batch),"expires":\#(spec.fetchWait.nanoseconds),"no_wait":true}"#
        let messages = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[NATSMessage], any Error>) in
            let late: [NATSMessage]? = state.withLock { state in
                guard state.delivered.isEmpty else {
                    defer { state.delivered = [] }
                    return state.delivered
                }
                state.fetch = Fetch(replySubject: replySubject, batch: batch, continuation: continuation)
                return nil
            }
            if let late { return continuation.resume(returning: late) }
            do {
                try bus.publish(NATSMessage(subject: requestSubject, replyTo: replySubject, payload: Data(request.utf8)))
            } catch {
                return end(replySubject, with: .failure(error))
            }
            // The server ends the request by `expires`; this ends it when the server's word does
            // not come (a lost connection, a consumer deleted). What it delivers later goes to
            // the next fetch.
            let timer = eventLoopForTimers().scheduleTask(in: TimeAmount(spec.fetchWait + .seconds(2))) { [weak self] in
                guard let self else { return }
                self.end(replySubject, with: nil, unanswered: BusError.failed(
                    operation: "fetch from \(self.spec.name)", status: "unanswered", detail: "the server did not end the request"))
            }
            state.withLock { state in
                if state.fetch?.replySubject == replySubject { state.fetch?.timer = timer } else { timer.cancel() }
            }
        }
        return messages.compactMap(delivery)
    }

    /// No more messages after those the server has sent already.
    func close() {
        subscription.withLock { $0?.drain() }
        end(nil, with: .success([]))
    }

    /// On the connection's event loop: a delivery, or the status that ends a fetch.
    private func received(_ message: NATSMessage) {
        guard let status = message.headers["Status"] else {
            let filled = state.withLock { state in
                state.delivered.append(message)
                return state.fetch.map { state.delivered.count >= $0.batch } ?? false
            }
            if filled { end(nil, with: nil) }
            return
        }
        let outcome: Result<[NATSMessage], any Error>? = switch status {
        case "404", "408": nil  // no (more) messages: the fetch ends with what came
        case "503": .failure(BusError.noResponders(subject: requestSubject))
        default: .failure(BusError.failed(operation: "fetch from \(spec.name)", status: status, detail: message.headers["Description"] ?? ""))
        }
        end(message.subject, with: outcome)
    }

    /// Ends the current fetch (only if it is the one asked on `replySubject`, when one is named)
    /// with `outcome`, or by default with the messages delivered (`unanswered` when there are
    /// none and it is given).
    private func end(_ replySubject: String?, with outcome: Result<[NATSMessage], any Error>?, unanswered: (any Error)? = nil) {
        let ended: (Fetch, Result<[NATSMessage], any Error>)? = state.withLock { state in
            guard let fetch = state.fetch, replySubject == nil || replySubject == fetch.replySubject else { return nil }
            state.fetch = nil
            if let outcome { return (fetch, outcome) }
            if state.delivered.isEmpty, let unanswered { return (fetch, .failure(unanswered)) }
            defer { state.delivered = [] }
            return (fetch, .success(state.delivered))
        }
        guard let (fetch, outcome) = ended else { return }
        fetch.timer?.cancel()
        fetch.continuation.resume(with: outcome)
    }

    private func delivery(_ message: NATSMessage) -> Delivery? {
        guard let replyTo = message.replyTo, let (sequence, delivered) = Self.metadata(ofAckSubject: replyTo) else {
            logger.warning("a delivery without JetStream metadata", metadata: ["subject": "\(message.subject)"])
            return nil
        }
        var logger = self.logger
        logger[metadataKey: "sequence"] = "\(sequence)"
        if let correlationID = message.headers[BusHeader.correlationID] {
            logger[metadataKey: "correlation_id"] = "\(correlationID)"
        }
        return Delivery(message: message, consumer: spec.name, stream: spec.stream, streamSequence: sequence, attempt: delivered, logger: logger)
    }

    /// The stream sequence and delivery count in a JetStream acknowledgement subject:
    /// `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>`,
    /// or from newer servers with `<domain>.<account hash>.` after `$JS.ACK.` and a token at the end.
    static func metadata(ofAckSubject subject: String) -> (streamSequence: UInt64, delivered: Int)? {
        let tokens = subject.split(separator: ".", omittingEmptySubsequences: false)
        guard tokens.count == 9 || tokens.count >= 11, tokens[0] == "$JS", tokens[1] == "ACK" else { return nil }
        let delivered = tokens.count == 9 ? 4 : 6
        guard let count = Int(tokens[delivered]), let sequence = UInt64(tokens[delivered + 1]) else { return nil }
        return (sequence, count)
    }
}
