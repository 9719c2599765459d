import Contracts
import Foundation
import Synchronization
import SwitchyardBus
import Testing

/// Streams and stored messages managed through JetStream's API on the bus's one connection.
@Suite struct JetStreamAPITests {
    @Test func anExistingStreamIsBroughtToItsSpecAndMakingItAgainChangesNothing() async throws {
        try await PrivateNATSServer.running { server, _ in
            try await withBus(url: server.url) { bus in
                let name = "ORDERS"
                try await bus.ensureStreams([StreamSpec(name: name, subjects: ["orders.>"])])
                try await bus.ensureStreams([StreamSpec(name: name, subjects: ["orders.>"])])
                await #expect(throws: BusError.self) {
                    _ = try await bus.publishToStream(NATSMessage(subject: "refunds.1", payload: Data("r".utf8)))
                }
                // Another subject and a retention limit: the stream is updated, not refused.
                try await bus.ensureStreams([StreamSpec(name: name, subjects: ["orders.>", "refunds.>"], maxAge: .seconds(3600))])
                let first = try await bus.publishToStream(NATSMessage(subject: "orders.1", payload: Data("o".utf8)))
                let second = try await bus.publishToStream(NATSMessage(subject: "refunds.1", payload: Data("r".utf8)))
                #expect(first.stream == name && second.stream == name && second.sequence == first.sequence + 1)
                let state = try await bus.streamState(name)
                #expect(state.messages == 2 && state.firstSequence == 1 && state.lastSequence == 2)
            }
        }
    }

    @Test func aStoredMessageIsReadBackCountedDeletedAndPurged() async throws {
        try await PrivateNATSServer.running { server, _ in
            try await withBus(url: server.url) { bus in
                let name = "NOTES"
                try await bus.ensureStreams([StreamSpec(name: name, subjects: ["notes.>"])])
                let before = Date()
                let payload = Data("ünïcode, \"quotes\" and\nnewlines".utf8)
                let ack = try await bus.publishToStream(NATSMessage(
                    subject: "notes.a.1", headers: ["Nats-Msg-Id": "note-1", "Switchyard-Correlation-Id": "corr: with colon"], payload: payload))
                for index in 2...4 {
                    _ = try await bus.publishToStream(NATSMessage(subject: "notes.b.\(index)", payload: Data("\(index)".utf8)))
                }

                let stored = try #require(try await bus.storedMessage(stream: name, sequence: ack.sequence))
                #expect(stored.sequence == ack.sequence && stored.message.subject == "notes.a.1" && stored.message.payload == payload)
                #expect(stored.message.headers["Switchyard-Correlation-Id"] == "corr: with colon")
                #expect(stored.message.headers["Nats-Msg-Id"] == "note-1")
                #expect(stored.storedAt >= before.addingTimeInterval(-1) && stored.storedAt <= Date().addingTimeInterval(1))
                #expect(try await bus.storedMessage(stream: name, sequence: 99) == nil)

                #expect(try await bus.messageCount(stream: name, subjects: "notes.b.>") == 3)
                #expect(try await bus.messageCount(stream: name, subjects: "notes.>") == 4)
                #expect(try await bus.messageCount(stream: name, subjects: "notes.c.>") == 0)

                #expect(try await bus.deleteStoredMessage(stream: name, sequence: ack.sequence))
                #expect(try await bus.deleteStoredMessage(stream: name, sequence: ack.sequence) == false)
                #expect(try await bus.storedMessage(stream: name, sequence: ack.sequence) == nil)

                try await bus.purge(stream: name, subject: "notes.b.2")
                #expect(try await bus.messageCount(stream: name, subjects: "notes.>") == 2)
                try await bus.purge(stream: name)
                #expect(try await bus.streamState(name).messages == 0)
            }
        }
    }

    @Test func aMissingStreamOrConsumerIsRefusedWithJetStreamsCode() async throws {
        try await PrivateNATSServer.running { server, _ in
            try await withBus(url: server.url) { bus in
                await #expect {
                    _ = try await bus.streamState("NO_SUCH_STREAM")
                } throws: { error in
                    guard case BusError.jetStream(_, let code, let detail) = error else { return false }
                    return code == 10059 && detail.contains("stream not found")
                }
                await #expect {
                    _ = try await bus.consumerBacklog(stream: StreamSpec.events.name, consumer: "no-such-consumer")
                } throws: { error in
                    guard case BusError.jetStream(_, let code, _) = error else { return false }
                    return code == 10014
                }
                // Deleting what is not there is not an error.
                try await bus.deleteConsumer(stream: StreamSpec.events.name, name: "no-such-consumer")
            }
        }
    }

    @Test func aServerWithoutJetStreamIsNamedWhenTheStreamsAreMade() async throws {
        try await withBusOnAServerWithoutJetStream { bus in
            await #expect {
                try await bus.ensureStreams()
            } throws: { error in
                "\(error)".contains("JetStream is not enabled")
            }
        }
    }

    /// The server lists a filter's subjects a page at a time (100,000 to a page, too many to
    /// store here), so the pages come from a responder standing in for JetStream's API.
    @Test func everyPageOfMatchingSubjectsIsCounted() async throws {
        let subjects = (1...5).map { ("notes.\($0)", UInt64($0)) }
        let offsets = Mutex<[Int]>([])
        try await withBusOnAServerWithoutJetStream { bus in
            let api = Responder(bus: bus, subject: "$JS.API.STREAM.INFO.PAGED", queue: nil, logger: TestEnvironment.logger, handler: .unary { request in
                let asked = try JSONSerialization.jsonObject(with: request.payload) as? [String: Any]
                #expect(asked?["subjects_filter"] as? String == "notes.>")
                let offset = asked?["offset"] as? Int ?? -1
                offsets.withLock { $0.append(offset) }
                let page = Dictionary(uniqueKeysWithValues: subjects.dropFirst(offset).prefix(2))
                return try JSONSerialization.data(withJSONObject: [
                    "state": ["messages": 15, "first_seq": 1, "last_seq": 15, "subjects": page],
                    "total": subjects.count, "offset": offset, "limit": 2,
                ])
            })
            try await withRunning([api]) {
                try await awaitResponder(bus, "$JS.API.STREAM.INFO.PAGED")
                offsets.withLock { $0.removeAll() }  // the count's requests only, not the probe's
                #expect(try await bus.messageCount(stream: "PAGED", subjects: "notes.>") == 15)
                #expect(offsets.withLock { $0 } == [0, 2, 4])
            }
        }
    }

    @Test func aDeletionOrPurgeAnsweredWithoutSuccessIsAnError() async throws {
        try await withBusOnAServerWithoutJetStream { bus in
            let api = Responder(bus: bus, subject: "$JS.API.STREAM.PURGE.REFUSING", queue: nil, logger: TestEnvironment.logger, handler: .unary { _ in
                Data(#"{"success": false}"#.utf8)
            })
            try await withRunning([api]) {
                try await awaitResponder(bus, "$JS.API.STREAM.PURGE.REFUSING")
                await #expect {
                    try await bus.purge(stream: "REFUSING")
                } throws: { error in
                    guard case BusError.failed(let operation, let status, _) = error else { return false }
                    return operation == "purge REFUSING" && status == "not done"
                }
            }
        }
    }

    /// A server without JetStream, where a test can stand in for JetStream's API.
    private func withBusOnAServerWithoutJetStream(_ body: (Bus) async throws -> Void) async throws {
        let port = freePort()
        let process = try ChildProcess(absolutePath: TestEnvironment.require("NATS_SERVER"), arguments: ["-a", "127.0.0.1", "-p", String(port)])
        defer { process.kill() }
        #expect(try await eventually(timeout: .seconds(10)) { isListening(port: port) })
        // Not `withBus`: `Bus.withConnection` makes Switchyard's streams, which this server cannot.
        let bus = try await Bus.connect(.init(url: "nats://127.0.0.1:\(port)", name: "tests"), logger: TestEnvironment.logger)
        do {
            try await body(bus)
        } catch {
            await bus.close()
            throw error
        }
        await bus.close()
    }
}
