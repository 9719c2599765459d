import Contracts
import Foundation
import NIOCore
import NIOPosix
@testable import SwitchyardBus
import Testing

@Suite struct CoreProtocolTests {
    @Test func aMessageIsDecodedOnlyOnceAllOfItHasArrived() throws {
        let headerBlock = "NATS/1.0\r\nTrace: a b\r\nKey: value\r\n\r\n"
        let headerLength = headerBlock.utf8.count
        let wire = "HMSG reply.here 7 _INBOX.abc.1 \(headerLength) \(headerLength + 5)\r\n\(headerBlock)hello\r\nPING\r\n"
        let bytes = Array(wire.utf8)
        let messageLength = wire.utf8.count - "PING\r\n".utf8.count
        for split in 1..<messageLength {
            var buffer = ByteBuffer(bytes: bytes[..<split])
            #expect(try CoreProtocolDecoder.next(from: &buffer) == nil, "decoded from the first \(split) bytes")
            #expect(buffer.readableBytes == split, "consumed part of an incomplete message")
        }
        var buffer = ByteBuffer(bytes: bytes)
        guard case .message(let message, let sid) = try CoreProtocolDecoder.next(from: &buffer) else {
            Issue.record("no message decoded")
            return
        }
        #expect(sid == 7 && message.subject == "reply.here" && message.replyTo == "_INBOX.abc.1")
        #expect(message.headers == ["Trace": "a b", "Key": "value"])
        #expect(message.payload == Data("hello".utf8))
        guard case .ping = try CoreProtocolDecoder.next(from: &buffer) else {
            Issue.record("the operation after the message was not read")
            return
        }
        #expect(buffer.readableBytes == 0)
    }

    @Test func aStatusLineBecomesTheStatusHeaderAsTheCClientReportsIt() throws {
        let status = "NATS/1.0 503 No Responders\r\n\r\n"
        let length = status.utf8.count
        var buffer = ByteBuffer(string: "HMSG _INBOX.x.2 1 \(length) \(length)\r\n\(status)\r\nMSG a.b 2 0\r\n\r\n")
        guard case .message(let noResponders, _) = try CoreProtocolDecoder.next(from: &buffer),
              case .message(let empty, _) = try CoreProtocolDecoder.next(from: &buffer) else {
            Issue.record("messages not decoded")
            return
        }
        #expect(noResponders.headers == ["Status": "503", "Description": "No Responders"])
        #expect(noResponders.payload.isEmpty)
        #expect(empty.subject == "a.b" && empty.replyTo == nil && empty.payload.isEmpty && empty.headers.isEmpty)
    }

    @Test func aLineTheClientCannotReadIsAnErrorNotAGuess() {
        for wire in ["MSG a.b 1\r\n", "MSG a.b 1 x\r\n", "HMSG a 1 9 3\r\nabc\r\n", "MSG a.b 1 2\r\nabc\r\n", "HELLO\r\n"] {
            var buffer = ByteBuffer(string: wire)
            #expect(throws: CoreProtocolError.self, "\(wire.debugDescription) was accepted") {
                _ = try CoreProtocolDecoder.next(from: &buffer)
            }
        }
    }

    @Test func serverErrorsAndInfoAreRead() throws {
        var buffer = ByteBuffer(string: "-ERR 'Authorization Violation'\r\nINFO {\"max_payload\":2048,\"headers\":true}\r\n+OK\r\n")
        guard case .error(let text) = try CoreProtocolDecoder.next(from: &buffer),
              case .info(let info) = try CoreProtocolDecoder.next(from: &buffer),
              case .ok = try CoreProtocolDecoder.next(from: &buffer) else {
            Issue.record("operations not decoded")
            return
        }
        #expect(text == "Authorization Violation")
        #expect(info.maxPayload == 2048 && info.headers == true)
    }

    @Test func serverAddressesCarryCredentialsAndDefaultThePort() throws {
        #expect(try ServerAddress.parse("nats://a:1, nats://user:secret@b, token@c:7") == [
            ServerAddress(host: "a", port: 1),
            ServerAddress(host: "b", port: 4222, credentials: .userPassword("user", "secret")),
            ServerAddress(host: "c", port: 7, credentials: .token("token")),
        ])
        #expect(try ServerAddress.parse("nats://[::1]:4223") == [ServerAddress(host: "::1", port: 4223)])
        #expect(throws: BusError.self) { try ServerAddress.parse("http://a:1") }
        #expect(throws: BusError.self) { try ServerAddress.parse("") }
    }

    /// The subject a pulled message is acknowledged on says which stream message it is and how
    /// often it was delivered; servers with a JetStream domain add two tokens and a last one.
    @Test func aDeliverysAckSubjectGivesItsSequenceAndAttempt() {
        #expect(PullSubscription.metadata(ofAckSubject: "$JS.ACK.EVENTS.billing.3.1042.17.1796096243528861822.5")! == (1042, 3))
        #expect(PullSubscription.metadata(ofAckSubject: "$JS.ACK.hub.ACCHASH.EVENTS.billing.1.7.7.1796096243528861822.0.x1y2")! == (7, 1))
        #expect(PullSubscription.metadata(ofAckSubject: "$JS.ACK.EVENTS.billing.x.7.7.1.0") == nil)
        #expect(PullSubscription.metadata(ofAckSubject: "_INBOX.abc.1") == nil)
    }
}

@Suite struct CoreConnectionTests {
    @Test func aPublishTheServerWouldRefuseFailsAndTheConnectionCarriesOn() async throws {
        try await withBus { bus in
            #expect {
                try bus.publish(NATSMessage(subject: "test.too.large", payload: Data(count: 2 * 1024 * 1024)))
            } throws: { error in
                "\(error)".contains("message too large")
            }
            #expect(throws: BusError.self) { try bus.publish(NATSMessage(subject: "has space")) }
            #expect(throws: BusError.self) {
                try bus.publish(NATSMessage(subject: "test.header", headers: ["Name": "line\r\nInjected: 1"]))
            }
            let subject = "svc.test.\(uniqueName("after-refusal"))"
            let responder = Responder(bus: bus, subject: subject, queue: "test", logger: TestEnvironment.logger, handler: .unary { $0.payload })
            try await withRunning([responder]) {
                let reply = try await eventuallyAnswered { try await bus.request(subject, payload: Data("still here".utf8), timeout: TestEnvironment.replyTimeout) }
                #expect(reply.payload == Data("still here".utf8))
            }
        }
    }

    @Test func subscriptionsAndPublishesSurviveARestartOfTheServer() async throws {
        var (server, process) = try await PrivateNATSServer.started()
        defer { try? FileManager.default.removeItem(at: server.directory) }
        let bus = try await Bus.connect(.init(url: server.url, name: "tests"), logger: TestEnvironment.logger)
        let subject = "svc.test.\(uniqueName("restart"))"
        let responder = Responder(bus: bus, subject: subject, queue: "test", logger: TestEnvironment.logger, handler: .unary { $0.payload })
        try await withRunning([responder]) {
            _ = try await eventuallyAnswered { try await bus.request(subject, payload: Data(), timeout: TestEnvironment.replyTimeout) }
            let heard = try AwaitedMessage(bus: bus, subject: "test.while.down") { _ in true }

            process.kill()
            // The core connection itself must know: a publish into a socket that is closing
            // is lost, as core NATS promises no more than that.
            #expect(try await eventually(timeout: .seconds(10)) { !bus.core.isConnected })
            try bus.publish(NATSMessage(subject: "test.while.down", headers: ["Sent": "while down"], payload: Data("kept".utf8)))
            process = try server.start()

            let message = await heard.next(within: .seconds(20))
            #expect(message?.payload == Data("kept".utf8) && message?.headers["Sent"] == "while down",
                    "a publish made while the server was down was lost")
            let reply = try await bus.request(subject, payload: Data("again".utf8), timeout: TestEnvironment.replyTimeout)
            #expect(reply.payload == Data("again".utf8), "the responder's subscription was not made again")
        }
        await bus.close()
        process.kill()
    }

    @Test func publishesToAServerThatStopsReadingFailOnceTheLimitWaitsAndTheBusRecovers() async throws {
        try await PrivateNATSServer.running { server, process in
            let bus = try await Bus.connect(.init(url: server.url, name: "tests"), logger: TestEnvironment.logger)
            let subject = "svc.test.\(uniqueName("after-flood"))"
            let responder = Responder(bus: bus, subject: subject, queue: "test", logger: TestEnvironment.logger, handler: .unary { $0.payload })
            try await withRunning([responder]) {
                _ = try await eventuallyAnswered { try await bus.request(subject, payload: Data(), timeout: TestEnvironment.replyTimeout) }
                process.pause()
                // The kernel's socket buffers take some megabytes; then the channel stops being
                // writable and publishes wait in the connection, up to its limit.
                let message = NATSMessage(subject: "test.flood", payload: Data(count: 512 * 1024))
                var sent = 0
                var refusal: (any Error)?
                while sent < 256 {
                    do {
                        try bus.publish(message)
                        sent += 1
                        await Task.yield()  // lets the connection hand what waits to the channel
                    } catch {
                        refusal = error
                        break
                    }
                }
                #expect(refusal.map { "\($0)".contains("publishes waiting") } == true,
                        "\(sent / 2) MiB published to a stopped server without a refusal")
                process.resume()
                // What waited drains once the server reads again; publishing works again then.
                #expect(try await eventually(timeout: .seconds(20)) { (try? bus.publish(NATSMessage(subject: "test.probe"))) != nil })
                let reply = try await bus.request(subject, payload: Data("after".utf8), timeout: .seconds(10))
                #expect(reply.payload == Data("after".utf8))
            }
            await bus.close()
        }
    }

    @Test func aServerThatStopsAnsweringIsLeftAfterTwoUnansweredPings() async throws {
        try await PrivateNATSServer.running { server, process in
            var options = Bus.Options(url: server.url, name: "tests")
            options.pingInterval = .milliseconds(200)
            let bus = try await Bus.connect(options, logger: TestEnvironment.logger)
            process.pause()
            let left = try await eventually(timeout: .seconds(10)) { !bus.isConnected }
            process.resume()
            #expect(left, "the client still counted a hung server as connected")
            #expect(try await eventually(timeout: .seconds(20)) { bus.isConnected }, "the bus did not reconnect")
            await bus.close()
        }
    }

    @Test(arguments: [
        (#"{"server_id":"tls","tls_required":true,"headers":true}"#, "requires TLS"),
        (#"{"server_id":"old","headers":false}"#, "does not support message headers"),
    ])
    func aServerTheConnectionCannotUseIsRefusedSayingWhy(info: String, reason: String) async throws {
        // A listener that greets like a NATS server and then says nothing more.
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Greeter(line: "INFO \(info)\r\n")) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let url = "nats://127.0.0.1:\(server.localAddress!.port!)"
        await #expect {
            _ = try await Bus.connect(.init(url: url, name: "tests"), logger: TestEnvironment.logger)
        } throws: { error in
            guard case BusError.unreachable(let reported, let said) = error else { return false }
            return reported == url && said.contains(reason)
        }
        try await server.close()
    }

    @Test func credentialsInTheURLAreSentAndARefusalIsNamed() async throws {
        try await PrivateNATSServer.running(arguments: ["--user", "switchyard", "--pass", "s3cret"]) { server, _ in
            await #expect {
                _ = try await Bus.connect(.init(url: server.url, name: "tests"), logger: TestEnvironment.logger)
            } throws: { error in
                guard case BusError.unreachable(_, let reason) = error else { return false }
                return reason.localizedCaseInsensitiveContains("authorization")
            }
            let url = server.url.replacingOccurrences(of: "nats://", with: "nats://switchyard:s3cret@")
            let bus = try await Bus.connect(.init(url: url, name: "tests"), logger: TestEnvironment.logger)
            let subject = "svc.test.\(uniqueName("authorized"))"
            let responder = Responder(bus: bus, subject: subject, queue: "test", logger: TestEnvironment.logger, handler: .unary { $0.payload })
            try await withRunning([responder]) {
                let reply = try await eventuallyAnswered { try await bus.request(subject, payload: Data("ok".utf8), timeout: TestEnvironment.replyTimeout) }
                #expect(reply.payload == Data("ok".utf8))
            }
            await bus.close()
        }
    }
}

/// Writes one line when a client connects, then reads and ignores what the client sends.
private final class Greeter: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let line: String

    init(line: String) { self.line = line }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(NIOAny(ByteBuffer(string: line)), promise: nil)
    }
}

/// Retries `request` while nobody serves its subject yet: a responder subscribes as it starts.
private func eventuallyAnswered(_ request: () async throws -> NATSMessage) async throws -> NATSMessage {
    for _ in 0..<100 {
        do {
            return try await request()
        } catch BusError.noResponders {
            try await Task.sleep(for: .milliseconds(20))
        }
    }
    return try await request()
}
