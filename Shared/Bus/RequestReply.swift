import Contracts
import Foundation
import NIOCore
import NIOPosix
import Synchronization

extension Bus {
    /// How long a request nobody is subscribed to is sent again before `.noResponders` is
    /// thrown: a callee restarting, or starting beside its caller, subscribes within it.
    public static let responderGrace: Duration = .seconds(1)

    /// Sends a request and waits for its one reply until `timeout`. The callee sees the deadline
    /// in `Switchyard-Deadline` and stops working when it passes.
    ///
    /// A request that reached no responder is sent again (every 25 ms, then less often) for
    /// `responderGrace` at most, within the timeout: nobody received it, so sending it again
    /// cannot run it twice.
    ///
    /// Throws `BusError.timedOut`, `.noResponders`, or `.remote(fault)` when the callee answered
    /// with an error.
    public func request(
        _ subject: String, payload: Data, headers: [String: String] = [:], timeout: Duration,
        responderGrace: Duration = Bus.responderGrace
    ) async throws -> NATSMessage {
        let deadline = ContinuousClock.now + timeout
        return try await Self.sendingAgainUntilAResponder(grace: min(responderGrace, timeout)) {
            try await requestOnce(subject, payload: payload, headers: headers, timeout: deadline - .now)
        }
    }

    /// Runs `send` again while it fails with `.noResponders`, every 25 ms and then less often,
    /// for `grace` at most; then the last failure is thrown. For a request that reached nobody
    /// (`request` does this itself; a streamed request's caller wraps the wait for its first chunk).
    public static func sendingAgainUntilAResponder<Answer>(
        grace: Duration = Bus.responderGrace, _ send: () async throws -> Answer
    ) async throws -> Answer {
        let graceEnds = ContinuousClock.now + grace
        var pause = Duration.milliseconds(25)
        while true {
            do {
                return try await send()
            } catch BusError.noResponders where ContinuousClock.now + pause < graceEnds {
                try await Task.sleep(for: pause)
                pause = min(pause * 2, .milliseconds(200))
            }
        }
    }

    private func requestOnce(_ subject: String, payload: Data, headers: [String: String], timeout: Duration) async throws -> NATSMessage {
        let reply = try await exchange(requestMessage(subject, replyTo: nil, payload: payload, headers: headers, timeout: timeout), timeout: timeout)
        try Self.throwIfFault(reply, subject: subject)
        return reply
    }

    /// Publishes `message` with the connection's reply inbox as its reply subject and waits for
    /// the one reply until `timeout`: a request, a JetStream publish or an API call.
    func exchange(_ message: NATSMessage, timeout: Duration) async throws -> NATSMessage {
        let inbox = try inbox()
        let (replySubject, waiter) = inbox.expectReply()
        defer { inbox.forget(replySubject) }
        var message = message
        message.replyTo = replySubject
        try publish(message)
        return try await waiter.value(timeout: timeout, subject: message.subject)
    }

    /// Sends a request whose answer comes as numbered chunks, ending with a final chunk. Chunks
    /// are yielded as they arrive and the stream ends at the final one; a missing chunk, a fault
    /// or the deadline ends the stream with an error. The callee sends at most `window` chunks
    /// ahead of what was read, so a slow reader slows the callee instead of filling memory.
    /// Ending iteration early tells the callee to stop.
    public func requestStream(
        _ subject: String, payload: Data, headers: [String: String] = [:], timeout: Duration, window: Int = ReplyStream.defaultWindow
    ) throws -> ReplyStream {
        let inbox = try inbox()
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: NATSMessage.self)
        let replySubject = inbox.expectStream(subject: subject, continuation)
        let control = StreamControl.subject(forReply: replySubject)
        let deadlineTimer = eventLoopForTimers().scheduleTask(in: TimeAmount(timeout)) {
            continuation.finish(throwing: BusError.timedOut(subject: subject))
        }
        continuation.onTermination = { [weak self] termination in
            deadlineTimer.cancel()
            inbox.forget(replySubject)
            if case .cancelled = termination {
                try? self?.publish(NATSMessage(subject: control, headers: [BusHeader.streamControl: StreamControl.cancel]))
            }
        }
        var headers = headers
        headers[BusHeader.streamWindow] = String(window)
        try publish(requestMessage(subject, replyTo: replySubject, payload: payload, headers: headers, timeout: timeout))
        return ReplyStream(chunks: stream, window: window) { [weak self] read in
            try? self?.publish(NATSMessage(subject: control, headers: [
                BusHeader.streamControl: StreamControl.read, BusHeader.streamRead: String(read),
            ]))
        }
    }

    /// Sends a request that every callee listening answers (responders without a queue group),
    /// and returns the replies that came within `window`: one per replica of the callee.
    public func gather(_ subject: String, payload: Data, headers: [String: String] = [:], window: Duration) async throws -> [NATSMessage] {
        let inbox = try inbox()
        let (replies, continuation) = AsyncStream.makeStream(of: NATSMessage.self)
        let replySubject = inbox.expectMany(continuation)
        try publish(requestMessage(subject, replyTo: replySubject, payload: payload, headers: headers, timeout: window))
        try? await Task.sleep(for: window)
        inbox.forget(replySubject)
        continuation.finish()
        var gathered: [NATSMessage] = []
        for await reply in replies where reply.headers["Status"] != "503" { gathered.append(reply) }
        return gathered
    }

    private func requestMessage(
        _ subject: String, replyTo: String?, payload: Data, headers: [String: String], timeout: Duration
    ) -> NATSMessage {
        var headers = headers
        let deadline = Date().addingTimeInterval(Double(timeout.milliseconds) / 1000)
        headers[BusHeader.deadline] = String(Int64(deadline.timeIntervalSince1970 * 1000))
        return NATSMessage(subject: subject, replyTo: replyTo, headers: headers, payload: payload)
    }

    static func throwIfFault(_ reply: NATSMessage, subject: String) throws {
        if reply.headers["Status"] == "503" { throw BusError.noResponders(subject: subject) }
        guard reply.headers[BusHeader.fault] != nil else { return }
        let fault = (try? JSONCoding.decode(ServiceFault.self, from: reply.payload))
            ?? ServiceFault(code: "unreadable_fault", message: String(decoding: reply.payload, as: UTF8.self))
        throw BusError.remote(fault)
    }
}

/// Where the caller of a streamed reply tells the callee how far it has read, or that it
/// stopped listening. Every replica of the callee hears it; the one streaming to that reply
/// subject acts on it.
enum StreamControl {
    static let prefix = "_SYCTL."
    static let everyStream = prefix + ">"
    static let cancel = "cancel"
    static let read = "read"

    static func subject(forReply reply: String) -> String { prefix + reply }

    static func reply(ofControlSubject subject: String) -> String? {
        subject.hasPrefix(prefix) ? String(subject.dropFirst(prefix.count)) : nil
    }
}

/// The chunks of a streamed reply, as `Bus.requestStream` returns them. Reading them tells
/// the callee it may send more: every half window, the count read so far.
public struct ReplyStream: AsyncSequence, Sendable {
    public typealias Element = NATSMessage
    /// Chunks the callee may send ahead of the reader: enough that a fast reader never waits
    /// on a credit in flight, few enough that a stalled one holds little.
    public static let defaultWindow = 64

    let chunks: AsyncThrowingStream<NATSMessage, any Error>
    let window: Int
    let tellRead: @Sendable (Int) -> Void

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncThrowingStream<NATSMessage, any Error>.AsyncIterator
        let creditEvery: Int
        let tellRead: @Sendable (Int) -> Void
        var read = 0

        public mutating func next() async throws -> NATSMessage? {
            guard let message = try await base.next() else { return nil }
            read += 1
            if read % creditEvery == 0 { tellRead(read) }
            return message
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: chunks.makeAsyncIterator(), creditEvery: Swift.max(1, window / 2), tellRead: tellRead)
    }
}

/// One wildcard subscription per connection receives every reply (`_INBOX.<id>.<token>`), so a
/// request costs no subscription of its own.
final class ReplyInbox: Sendable {
    private enum Pending {
        case single(ReplyWaiter)
        case stream(subject: String, nextChunk: Int, AsyncThrowingStream<NATSMessage, any Error>.Continuation)
        /// Every reply that comes, from any number of callees.
        case gather(AsyncStream<NATSMessage>.Continuation)
    }

    private let prefix: String
    private let pending = Mutex<[String: Pending]>([:])
    private let nextToken = Atomic<UInt64>(0)
    private let subscription: Mutex<Subscription?> = Mutex(nil)

    init(bus: Bus) throws(BusError) {
        prefix = Self.makePrefix()
        let subscription = try Subscription(bus: bus, subject: prefix + ".*") { [weak self] message in
            self?.deliver(message)
        }
        self.subscription.withLock { $0 = subscription }
    }

    func expectReply() -> (String, ReplyWaiter) {
        let subject = makeSubject()
        let waiter = ReplyWaiter()
        pending.withLock { $0[subject] = .single(waiter) }
        return (subject, waiter)
    }

    func expectMany(_ continuation: AsyncStream<NATSMessage>.Continuation) -> String {
        let replySubject = makeSubject()
        pending.withLock { $0[replySubject] = .gather(continuation) }
        return replySubject
    }

    func expectStream(subject: String, _ continuation: AsyncThrowingStream<NATSMessage, any Error>.Continuation) -> String {
        let replySubject = makeSubject()
        pending.withLock { $0[replySubject] = .stream(subject: subject, nextChunk: 0, continuation) }
        return replySubject
    }

    func forget(_ replySubject: String) {
        _ = pending.withLock { $0.removeValue(forKey: replySubject) }
    }

    /// `_INBOX.` and 22 random letters and digits (131 bits): unique among the connections.
    static func makePrefix() -> String {
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)
        var generator = SystemRandomNumberGenerator()
        let token = (0..<22).map { _ in alphabet[Int(generator.next(upperBound: UInt64(alphabet.count)))] }
        return "_INBOX." + String(decoding: token, as: UTF8.self)
    }

    private func makeSubject() -> String {
        "\(prefix).\(nextToken.wrappingAdd(1, ordering: .relaxed).newValue)"
    }

    private func deliver(_ message: NATSMessage) {
        enum Action {
            case fulfil(ReplyWaiter)
            case gathered(AsyncStream<NATSMessage>.Continuation)
            case yield(AsyncThrowingStream<NATSMessage, any Error>.Continuation)
            case finish(AsyncThrowingStream<NATSMessage, any Error>.Continuation)
            case fail(AsyncThrowingStream<NATSMessage, any Error>.Continuation, any Error)
            case none
        }
        let action: Action = pending.withLock { pending in
            switch pending[message.subject] {
            case .single(let waiter):
                pending[message.subject] = nil
                return .fulfil(waiter)
            case .gather(let continuation):
                return .gathered(continuation)
            case .stream(let subject, let expected, let continuation):
                if message.headers["Status"] == "503" || message.headers[BusHeader.fault] != nil {
                    pending[message.subject] = nil
                    do { try Bus.throwIfFault(message, subject: subject) } catch { return .fail(continuation, error) }
                    return .none
                }
                let chunk = message.headers[BusHeader.chunk].flatMap(Int.init) ?? -1
                guard chunk == expected else {
                    pending[message.subject] = nil
                    return .fail(continuation, BusError.streamGap(subject: subject, expected: expected, received: chunk))
                }
                if message.headers[BusHeader.final] != nil {
                    pending[message.subject] = nil
                    return .finish(continuation)
                }
                pending[message.subject] = .stream(subject: subject, nextChunk: expected + 1, continuation)
                return .yield(continuation)
            case nil:
                return .none  // the caller gave up already
            }
        }
        switch action {
        case .fulfil(let waiter): waiter.fulfil(.success(message))
        case .gathered(let continuation): continuation.yield(message)
        case .yield(let continuation): continuation.yield(message)
        case .finish(let continuation): continuation.finish()
        case .fail(let continuation, let error): continuation.finish(throwing: error)
        case .none: break
        }
    }
}

/// A reply that may arrive before anyone waits for it, be waited for with a deadline, or be
/// abandoned when the waiting task is cancelled. Exactly one of these resumes the waiter.
final class ReplyWaiter: Sendable {
    private enum State {
        case empty
        case waiting(CheckedContinuation<NATSMessage, any Error>)
        case done(Result<NATSMessage, any Error>)
        case consumed
    }
    private let state = Mutex(State.empty)

    func fulfil(_ result: Result<NATSMessage, any Error>) {
        let continuation: CheckedContinuation<NATSMessage, any Error>? = state.withLock { state in
            switch state {
            case .empty:
                state = .done(result)
                return nil
            case .waiting(let continuation):
                state = .consumed
                return continuation
            case .done, .consumed:
                return nil
            }
        }
        continuation?.resume(with: result)
    }

    func value(timeout: Duration, subject: String) async throws -> NATSMessage {
        let timer = eventLoopForTimers().scheduleTask(in: TimeAmount(timeout)) { [weak self] in
            self?.fulfil(.failure(BusError.timedOut(subject: subject)))
        }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let ready: Result<NATSMessage, any Error>? = state.withLock { state in
                    if case .done(let result) = state {
                        state = .consumed
                        return result
                    }
                    state = .waiting(continuation)
                    return nil
                }
                if let ready { continuation.resume(with: ready) }
            }
        } onCancel: {
            fulfil(.failure(CancellationError()))
        }
    }
}
