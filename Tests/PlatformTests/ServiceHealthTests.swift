import Contracts
import Foundation
import SwitchyardRuntime
import Testing

/// The seven service executables, started against a PostgreSQL of this test's own, which the
/// test stops and starts again.
@Suite(.serialized) struct ServiceHealthTests {
    struct Readiness {
        var status: Int
        var report: ReadinessReport?
    }

    static func readiness(port: Int) async -> Readiness? {
        guard let answer = try? await send(.GET, "http://127.0.0.1:\(port)/health/ready", timeout: .seconds(5)) else { return nil }
        return Readiness(status: answer.status, report: try? JSONDecoder().decode(ReadinessReport.self, from: answer.body))
    }

    @Test func everyServiceReportsPostgreSQLDownAndRecoversWhenItIsBack() async throws {
        let directory = TestEnvironment.root.appendingPathComponent(".run-test/health-\(UUID().uuidString.prefix(8))")
        let pgPort = freePort()
        let urls = try runScript("scripts/infra.sh", ["postgres-up", directory.path, String(pgPort)])
        defer {
            _ = try? runScript("scripts/infra.sh", ["postgres-stop", directory.path])
            try? FileManager.default.removeItem(at: directory)
        }
        let databaseURL = try #require(urls.split(separator: "\n").first { $0.hasPrefix("DATABASE_URL=") }?.dropFirst("DATABASE_URL=".count))
        // A NATS server of its own: on the shared one, the consumers would take every other
        // test's events to a database without tables.
        let (nats, natsProcess) = try await PrivateNATSServer.started()
        defer {
            natsProcess.kill()
            try? FileManager.default.removeItem(at: nats.directory)
        }

        var services: [(ServiceName, Int, ChildProcess)] = []
        for service in ServiceName.allCases {
            let port = freePort()
            let process = try ChildProcess(service.rawValue, environment: [
                "DATABASE_URL": String(databaseURL), "NATS_URL": nats.url,
                "SWITCHYARD_\(service.rawValue.uppercased())_OPS_PORT": String(port),
                "SWITCHYARD_GATEWAY_PORT": String(freePort()), "SWITCHYARD_REALTIME_PORT": String(freePort()),
                "SWITCHYARD_REALTIME_CURSOR_SECRET": realtimeTestSecret.value,
                "SWITCHYARD_LOG_LEVEL": "error",
            ], log: directory.appendingPathComponent("\(service.rawValue).log"))
            services.append((service, port, process))
        }

        // What a service wrote, for the message of an expectation it failed.
        let log = { (service: ServiceName) in
            (try? String(contentsOf: directory.appendingPathComponent("\(service.rawValue).log"), encoding: .utf8)).map { String($0.suffix(2000)) } ?? ""
        }
        for (service, port, _) in services {
            let ready = try await eventually(timeout: .seconds(30)) { await Self.readiness(port: port)?.status == 200 }
            #expect(ready, "\(service) never became ready: \(log(service))")
        }

        _ = try runScript("scripts/infra.sh", ["postgres-stop", directory.path])
        for (service, port, _) in services {
            var last: Readiness?
            let down = try await eventually(timeout: .seconds(30)) {
                last = await Self.readiness(port: port)
                return last?.status == 503
            }
            #expect(down, "\(service) stayed ready without PostgreSQL: \(log(service))")
            #expect(last?.report?.failed == ["postgresql"], "\(service) named \(String(describing: last?.report?.failed))")
            #expect(last?.report?.status == "unavailable")
        }

        let exposition = try await send(.GET, "http://127.0.0.1:\(services[0].1)/metrics").text
        #expect(exposition.contains(#"switchyard_dependency_up{dependency="postgresql"} 0"#), "\(exposition)")
        #expect(exposition.contains(#"switchyard_dependency_up{dependency="nats"} 1"#))

        _ = try runScript("scripts/infra.sh", ["postgres-start", directory.path, String(pgPort)])
        for (service, port, _) in services {
            let back = try await eventually(timeout: .seconds(30)) { await Self.readiness(port: port)?.status == 200 }
            #expect(back, "\(service) did not recover when PostgreSQL came back: \(log(service))")
        }

        for (service, _, process) in services {
            #expect(await process.terminate() == 0, "\(service) did not shut down cleanly on SIGTERM")
        }
    }

    @Test func aBadSettingStopsAServiceNamingTheVariable() async throws {
        let (status, output) = try await runProcess(
            TestEnvironment.executable("billing"), arguments: [],
            environment: TestEnvironment.variables.merging(["SWITCHYARD_BILLING_OPS_PORT": "eighty"]) { _, new in new })
        #expect(status == 78)
        #expect(output.contains("SWITCHYARD_BILLING_OPS_PORT"))
        #expect(output.contains("SWITCHYARD_BILLING_OPS_PORT: must be a whole number"))
        #expect(!output.contains("eighty"), "the rejected value was echoed; values may be secrets")
    }

    @Test func aMissingRequiredSettingIsNamed() async throws {
        let (status, output) = try await runProcess(
            TestEnvironment.executable("router"), arguments: [], environment: TestEnvironment.variables.filter { $0.key != "NATS_URL" })
        #expect(status == 78)
        #expect(output.contains("NATS_URL: is required"))
    }
}
