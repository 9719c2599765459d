import Foundation
import Logging
import SwitchyardRuntime
import Testing

@Suite struct SettingsTests {
    @Test func aSettingsFileIsReadAndTheEnvironmentWins() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("switchyard-\(UUID().uuidString).env")
        try "NATS_URL=nats://from-file:4222\nSWITCHYARD_LOG_LEVEL=debug\n# a comment\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let settings = try await Settings.load(environment: ["SWITCHYARD_CONFIG_FILE": file.path, "SWITCHYARD_LOG_LEVEL": "error"])
        #expect(settings.string("NATS_URL") == "nats://from-file:4222")
        #expect(settings.string("SWITCHYARD_LOG_LEVEL") == "error")
    }

    @Test func anUnreadableSettingsFileIsNamed() async throws {
        await #expect(throws: ConfigError.self) {
            _ = try await Settings.load(environment: ["SWITCHYARD_CONFIG_FILE": "/nonexistent/switchyard.env"])
        }
    }

    @Test func badValuesNameTheirVariable() async throws {
        let settings = try await Settings.load(environment: [
            "SWITCHYARD_ROUTER_OPS_PORT": "70000", "SWITCHYARD_LOG_FORMAT": "xml", "ACK_WAIT": "soon", "FETCH_WAIT": "250ms",
        ])
        #expect(throws: ConfigError(variable: "SWITCHYARD_ROUTER_OPS_PORT", reason: "must be a whole number from 0 to 65535")) {
            try settings.port("SWITCHYARD_ROUTER_OPS_PORT", default: 1)
        }
        #expect(throws: ConfigError(variable: "ACK_WAIT", reason: "must be a duration such as 250ms, 30s or 5m")) {
            try settings.duration("ACK_WAIT", default: .seconds(1))
        }
        #expect(try settings.duration("FETCH_WAIT", default: .seconds(1)) == .milliseconds(250))
        #expect(throws: ConfigError.self) {
            try ServiceSettings(service: .router, dependencies: [], settings: settings)
        }
    }

    @Test func aServiceRequiresOnlyWhatItDependsOn() async throws {
        let settings = try await Settings.load(environment: ["NATS_URL": "nats://127.0.0.1:4222"])
        let router = try ServiceSettings(service: .router, dependencies: [.nats], settings: settings)
        #expect(router.natsURL == "nats://127.0.0.1:4222" && router.databaseURL == nil)
        #expect(router.opsPort == ServiceSettings.defaultOpsPort(.router))
        #expect(throws: ConfigError(variable: "DATABASE_URL", reason: "is required")) {
            try ServiceSettings(service: .router, dependencies: [.nats, .postgresql], settings: settings)
        }
    }

    @Test func secretsPrintAsStars() {
        let secret = Secret("postgres://app:hunter2@db/switchyard")
        #expect("\(secret)" == "***")
    }
}

@Suite struct JSONLogHandlerTests {
    @Test func aLineIsOneJSONObjectWithTheMetadataAsFields() throws {
        var handler = JSONLogHandler(label: "switchyard.test", service: "billing", instance: "billing-1")
        handler.metadata = ["correlation_id": "req_\"1\""]
        let line = handler.render(LogEvent(
            level: .warning, message: "ledger\nretry\u{1}", metadata: ["attempt": .stringConvertible(2), "ids": .array(["a", "b"]),
                                                                   "limits": .dictionary(["rpm": "60", "tpm": .array([])])],
            source: "test", file: #fileID, function: #function, line: #line))
        #expect(line.hasSuffix("\n") && line.dropLast().contains("\n") == false)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["level"] as? String == "warning")
        #expect(object["service"] as? String == "billing" && object["instance"] as? String == "billing-1")
        #expect(object["msg"] as? String == "ledger\nretry\u{1}")
        #expect(object["correlation_id"] as? String == "req_\"1\"")
        #expect(object["attempt"] as? String == "2")
        #expect(object["ids"] as? [String] == ["a", "b"])
        let limits = try #require(object["limits"] as? [String: Any])
        #expect(limits["rpm"] as? String == "60" && (limits["tpm"] as? [Any])?.isEmpty == true)
        #expect((object["ts"] as? String)?.hasSuffix("Z") == true)
    }
}
