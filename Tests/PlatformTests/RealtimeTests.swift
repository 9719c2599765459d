import Contracts
import Foundation
import HTTPTypes
import HummingbirdWSClient
import RealtimeService
import SwitchyardBus
import SwitchyardDatabase
import SwitchyardRuntime
import Synchronization
import Testing

/// The realtime service against the test database and NATS: real sockets from a WebSocket client.
@Suite struct RealtimeTests {
    @Test func aSocketCarriesItsTenantsEventsInOrderAndResumesAfterTheLastOneItSaw() async throws {
        try await withRealtime { address, database, bus, _ in
            let (tenant, key) = try await makeTenantWithKey(database, role: .viewer)
            let (neighbour, neighbourKey) = try await makeTenantWithKey(database)
            try await bus.publish(Envelope(tenantID: tenant, payload: Pinged(number: 0)))  // before the socket: not sent

            let first = try await receive(3, address: address, key: key) {
                for number in 1...3 {
                    try await bus.publish(Envelope(tenantID: neighbour, payload: Pinged(number: -number)))
                    try await bus.publish(Envelope(tenantID: tenant, payload: Pinged(number: number)))
                }
            }
            #expect(first.map(\.event.payload.number) == [1, 2, 3])
            #expect(first.allSatisfy { $0.event.tenantID == tenant })
            // Ids are sealed positions: distinct, and no stream sequence shows through.
            #expect(Set(first.map(\.id)).count == 3 && first.allSatisfy { UInt64($0.id) == nil && $0.id.count == 70 }, "\(first.map(\.id))")

            // Published while no socket was open: a socket that names the last event it saw gets them.
            for number in 4...5 { try await bus.publish(Envelope(tenantID: tenant, payload: Pinged(number: number))) }
            let resumed = try await receive(3, address: address, key: key, query: "?last_event_id=\(first[1].id)") {}
            #expect(resumed.map(\.event.payload.number) == [3, 4, 5])
            // Another tenant cannot use them.
            let borrowed = try await send(.GET, "http://\(address)/v1/realtime?last_event_id=\(first[1].id)", key: neighbourKey)
            #expect(borrowed.status == 400 && borrowed.error?.param == "last_event_id", "\(borrowed.text)")
        }
    }

    /// A changed secret: ids sealed under the previous one still resume while it is given as the
    /// previous secret, and are refused once it is not.
    @Test func idsOutliveAChangeOfSecretWhileThePreviousOneIsGiven() async throws {
        let newSecret = Secret("realtime-test-new-cursor-secret-" + String(repeating: "n", count: 32))
        let (tenant, key) = try await withDatabase { try await makeTenantWithKey($0, role: .viewer) }
        var seen: [(id: String, event: Envelope<Pinged>)] = []
        try await withRealtime { address, _, bus, _ in
            seen = try await receive(1, address: address, key: key) {
                try await bus.publish(Envelope(tenantID: tenant, payload: Pinged(number: 1)))
            }
            try await bus.publish(Envelope(tenantID: tenant, payload: Pinged(number: 2)))
        }
        let lastSeen = try #require(seen.first?.id)
        var rotated = RealtimeConfig(cursorSecret: newSecret, port: 0, idleWait: .seconds(1))
        rotated.previousCursorSecret = realtimeTestSecret
        try await withRealtime(rotated) { address, _, _, _ in
            let resumed = try await receive(1, address: address, key: key, query: "?last_event_id=\(lastSeen)") {}
            #expect(resumed.map(\.event.payload.number) == [2])
        }
        try await withRealtime(RealtimeConfig(cursorSecret: newSecret, port: 0, idleWait: .seconds(1))) { address, _, _, _ in
            let refused = try await send(.GET, "http://\(address)/v1/realtime?last_event_id=\(lastSeen)", key: key)
            #expect(refused.status == 400 && refused.error?.param == "last_event_id", "\(refused.text)")
        }
    }

    @Test func aRefusedSocketClosesWithTheStatusInItsCodeAndAPlainRequestGetsTheStatus() async throws {
        try await withRealtime { address, database, _, _ in
            let (_, viewer) = try await makeTenantWithKey(database, role: .viewer)
            let (_, billing) = try await makeTenantWithKey(database, role: .billing)
            // A WebSocket client cannot read a refused handshake's status: the socket opens and
            // closes at once, the status in its code, the message as its reason.
            let python = TestEnvironment.require("SWITCHYARD_TEST_PYTHON")
            let report = try await runProcess(
                URL(fileURLWithPath: python),
                arguments: [TestEnvironment.root.appendingPathComponent("Tests/Fixtures/python/realtime_close_check.py").path,
                            "ws://\(address)/v1/realtime", "-", "sk-sy-nosuchkey0_" + String(repeating: "x", count: 40), billing],
                environment: ["PATH": "/usr/bin:/bin"])
            #expect(report.status == 0, "\(report.output)")
            let closes = report.output.split(separator: "\n").compactMap { try? JSONCoding.decode(CloseFrame.self, from: Data($0.utf8)) }
            #expect(closes.map(\.opcode) == [8, 8, 8], "\(report.output)")
            #expect(closes.map(\.code) == [4401, 4401, 4403], "\(report.output)")
            #expect(closes.map(\.reason).map { $0.prefix(24) } == ["You didn't provide an AP", "Incorrect API key provid", "Your role does not allow"])
            #expect(closes.last?.reason.contains("realtime:subscribe") == true)

            let url = "http://\(address)/v1/realtime"
            let missing = try await send(.GET, url)
            #expect(missing.status == 401 && missing.error?.code == "missing_api_key", "\(missing.text)")
            let forbidden = try await send(.GET, url, key: billing)
            #expect(forbidden.status == 403 && forbidden.error?.type == .permission, "\(forbidden.text)")
            let badResume = try await send(.GET, url + "?last_event_id=yesterday", key: viewer)
            #expect(badResume.status == 400 && badResume.error?.param == "last_event_id", "\(badResume.text)")
            // With a good key, 426. (AsyncHTTPClient does not finish a request answered 426.)
            let plain = try await runProcess(
                URL(fileURLWithPath: "/usr/bin/curl"), arguments: ["-s", "-w", "\n%{http_code}", "-H", "Authorization: Bearer \(viewer)", url],
                environment: [:])
            #expect(plain.output.hasSuffix("\n426") && plain.output.contains(#""code":"upgrade_required""#), "\(plain.output)")
        }
    }

    enum Ending: String, CaseIterable, Sendable {
        case keyRevoked, tenantSuspended, keyExpired
    }

    /// A socket closes (1008, with the reason) when its key is revoked or expires or its tenant
    /// is suspended: what would refuse it at the door ends it when it is open.
    @Test(arguments: Ending.allCases)
    func aSocketClosesWhenItsKeyOrTenantMayNoLongerRead(_ ending: Ending) async throws {
        try await withRealtime { address, database, bus, realtime in
            let tenant = try await makeTenant(database)
            // Long enough to open the socket on a loaded machine; the close proves it opened (a key
            // that expired first would be refused with 4401).
            let expiresAt = ending == .keyExpired ? Date().addingTimeInterval(5) : nil
            let (keyID, secret) = try await database.withTenant(tenant) { tx in
                let (record, secret) = try await APIKeyRepository.create(name: "realtime", role: .viewer, expiresAt: expiresAt, in: tx)
                return (record.id, secret.value)
            }
            let closed = try await connect(address, key: secret) { inbound, _, _ in
                switch ending {
                case .keyRevoked:
                    #expect(try await eventually(timeout: .seconds(5)) { realtime.openSockets == 1 })
                    try await bus.publish(Envelope(tenantID: tenant, payload: APIKeyRevoked(apiKeyID: keyID, prefix: "", revokedAt: Date())))
                case .tenantSuspended:
                    #expect(try await eventually(timeout: .seconds(5)) { realtime.openSockets == 1 })
                    try await bus.publish(Envelope(tenantID: tenant, payload: TenantSuspended(reason: "test")))
                case .keyExpired:
                    break
                }
                for try await _ in inbound {}
            }
            let reasons: [Ending: String] = [
                .keyRevoked: "The API key was revoked.", .tenantSuspended: "The organization is suspended.", .keyExpired: "The API key expired.",
            ]
            #expect(closed?.closeCode == .policyViolation && closed?.reason == reasons[ending], "\(String(describing: closed))")
            let gone = try await eventually(timeout: .seconds(5)) { realtime.openSockets == 0 }
            #expect(gone)
        }
    }

    @Test func aSocketKeepsTheTypesItAsksFor() async throws {
        try await withRealtime { address, database, bus, _ in
            let (tenant, key) = try await makeTenantWithKey(database, role: .viewer)
            let publish: @Sendable () async throws -> Void = {
                for number in 1...4 {
                    if number.isMultiple(of: 2) {
                        try await bus.publish(Envelope(tenantID: tenant, payload: Pinged(number: number)))
                    } else {
                        try await bus.publish(Envelope(tenantID: tenant, payload: Ponged(number: number)))
                    }
                }
            }
            let pinged = try await receive(2, address: address, key: key, query: "?types=test.pinged", whileOpen: publish)
            #expect(pinged.map(\.event.payload.number) == [2, 4])
            #expect(pinged.allSatisfy { $0.event.type == Pinged.eventType })
            let both = try await receive(4, address: address, key: key, query: "?types=test.ponged,test.pinged", whileOpen: publish)
            #expect(both.map(\.event.payload.number) == [1, 2, 3, 4])
            let bad = try await send(.GET, "http://\(address)/v1/realtime?types=usage", key: key)
            #expect(bad.status == 400 && bad.error?.param == "types", "\(bad.text)")
        }
    }

    @Test func aTenantHoldsAtMostItsShareOfSocketsOnAReplica() async throws {
        try await withRealtime(RealtimeConfig(cursorSecret: realtimeTestSecret, port: 0, idleWait: .seconds(1), maxSocketsPerTenant: 1)) { address, database, bus, realtime in
            let (_, key) = try await makeTenantWithKey(database, role: .viewer)
            let (neighbour, neighbourKey) = try await makeTenantWithKey(database, role: .viewer)
            try await withIdleSocket(address: address, key: key) {
                let open = try await eventually(timeout: .seconds(5)) { realtime.openSockets == 1 }
                try #require(open)
                let report = try await runProcess(
                    URL(fileURLWithPath: TestEnvironment.require("SWITCHYARD_TEST_PYTHON")),
                    arguments: [TestEnvironment.root.appendingPathComponent("Tests/Fixtures/python/realtime_close_check.py").path,
                                "ws://\(address)/v1/realtime", key],
                    environment: ["PATH": "/usr/bin:/bin"])
                let closes = report.output.split(separator: "\n").compactMap { try? JSONCoding.decode(CloseFrame.self, from: Data($0.utf8)) }
                #expect(closes.map(\.code) == [4429], "\(report.output)")
                // Another tenant's socket is not held back by this one's.
                let other = try await receive(1, address: address, key: neighbourKey) {
                    try await bus.publish(Envelope(tenantID: neighbour, payload: Pinged(number: 1)))
                }
                #expect(other.map(\.event.payload.number) == [1])
            }
        }
    }

    /// A stopping replica closes its sockets with 1001 (going away), so that their clients
    /// reconnect elsewhere, instead of holding its shutdown until they leave.
    @Test func aStoppingReplicaClosesItsSocketsAsGoingAway() async throws {
        let client = ClientTask()
        try await withRealtime { address, database, _, realtime in
            let (_, key) = try await makeTenantWithKey(database, role: .viewer)
            client.start {
                try await connect(address, key: key) { inbound, _, _ in
                    for try await _ in inbound {}
                }
            }
            let open = try await eventually(timeout: .seconds(5)) { realtime.openSockets == 1 }
            try #require(open)
            // Leaving the body stops the service with the socket open.
        }
        let closed = try await client.value()
        #expect(closed?.closeCode == .goingAway, "\(String(describing: closed))")
    }

    /// A client's socket run beside the test, to be awaited after the server it talks to stopped.
    final class ClientTask: Sendable {
        private let task = Mutex<Task<WebSocketCloseFrame?, any Error>?>(nil)

        func start(_ body: @escaping @Sendable () async throws -> WebSocketCloseFrame?) {
            task.withLock { $0 = Task(operation: body) }
        }

        func value() async throws -> WebSocketCloseFrame? {
            try await task.withLock { $0 }?.value
        }
    }

    /// A client that stops reading holds back its own socket only: the server stops writing to
    /// it once its buffers are full, and its backlog waits in the stream while another socket
    /// of the same tenant gets every event.
    @Test func aClientThatStopsReadingHoldsBackOnlyItsOwnSocket() async throws {
        try await withRealtime { address, database, bus, realtime in
            let (tenant, key) = try await makeTenantWithKey(database, role: .viewer)
            let padding = String(repeating: "x", count: 4096)
            let count = 2000  // 8 MB: more than the slow socket's buffers on both sides hold
            // The idle socket reads nothing until the other has everything.
            try await withIdleSocket(address: address, key: key) {
                let open = try await eventually(timeout: .seconds(5)) { realtime.openSockets == 1 }
                try #require(open)
                let received = try await receive(count, address: address, key: key) {
                    for number in 1...count {
                        try await bus.publish(Envelope(tenantID: tenant, payload: Padded(number: number, padding: padding)))
                    }
                }
                #expect(received.count == count)
                #expect(received.map(\.event.payload.number) == Array(1...count))
            }
        }
    }

    /// Holds a socket open that reads nothing while `body` runs.
    func withIdleSocket(address: String, key: String, _ body: () async throws -> Void) async throws {
        let (released, release) = AsyncStream.makeStream(of: Void.self)
        defer { release.finish() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await connect(address, key: key) { _, _, _ in
                    for await _ in released {}
                }
            }
            try await body()
            release.finish()
            try await group.waitForAll()
        }
    }

    /// A socket on `/v1/realtime` with the key (none: a ticket in the query), run by `handler`;
    /// the close frame the server sent.
    @discardableResult
    func connect(
        _ address: String, key: String?, query: String = "", handler: @escaping WebSocketDataHandler<WebSocketClient.Context>
    ) async throws -> WebSocketCloseFrame? {
        let headers: HTTPFields = key.map { [.authorization: "Bearer \($0)"] } ?? [:]
        return try await WebSocketClient.connect(
            url: "ws://\(address)/v1/realtime\(query)", configuration: .init(additionalHeaders: headers),
            logger: TestEnvironment.logger, handler: handler)
    }

    /// Opens a socket, runs `whileOpen`, and returns the first `count` events it carries.
    func receive(
        _ count: Int, address: String, key: String?, query: String = "", whileOpen: @escaping @Sendable () async throws -> Void
    ) async throws -> [(id: String, event: Envelope<Pinged>)] {
        let messages = TextLog()
        try await connect(address, key: key, query: query) { inbound, outbound, _ in
            try await whileOpen()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for try await message in inbound.messages(maxSize: 1 << 20) {
                        guard case .text(let text) = message else { continue }
                        if messages.append(text) == count { return }
                    }
                }
                group.addTask { try await Task.sleep(for: .seconds(10)) }
                try await group.next()
                group.cancelAll()
            }
            try await outbound.close(.normalClosure, reason: nil)
        }
        return try messages.texts.map { text in
            let frame = try JSONCoding.decode(Frame.self, from: Data(text.utf8))
            return (frame.id, frame.event)
        }
    }

    final class TextLog: Sendable {
        private let log = Mutex<[String]>([])
        var texts: [String] { log.withLock { $0 } }
        /// Appends and answers how many there are.
        func append(_ text: String) -> Int { log.withLock { $0.append(text); return $0.count } }
    }

    /// Another type of event than `Pinged`, decoded as one (it has its `number`).
    struct Ponged: EventPayload {
        static let eventType = EventType(domain: "test", name: "ponged")
        static let version = 1
        var number: Int
    }

    /// A `Pinged` with 4 KB more.
    struct Padded: EventPayload {
        static let eventType = Pinged.eventType
        static let version = 1
        var number: Int
        var padding: String
    }

    struct CloseFrame: Decodable {
        var opcode: Int
        var code: Int
        var reason: String
    }

    struct Frame: Decodable {
        var id: String
        var event: Envelope<Pinged>
    }
}

let realtimeTestSecret = Secret("realtime-test-cursor-secret-" + String(repeating: "s", count: 32))

/// A realtime server on a free port of loopback, on the test database and NATS server.
func withRealtime(
    _ config: RealtimeConfig = RealtimeConfig(cursorSecret: realtimeTestSecret, port: 0, idleWait: .seconds(1)), _ body: (_ address: String, Database, Bus, Realtime) async throws -> Void
) async throws {
    try await withDatabase { database in
        try await withBus { bus in
            let ports = PortList()
            let realtime = Realtime(config: config, database: database, bus: bus, logger: TestEnvironment.logger)
            try await withServiceGroup(try realtime.services { ports.append($0) }) {
                let bound = try await eventually(timeout: .seconds(10)) { ports.count == 1 }
                try #require(bound, "the realtime server did not start listening")
                try await body("127.0.0.1:\(ports.values[0])", database, bus, realtime)
            }
        }
    }
}
