import Foundation
import Hummingbird
import Logging
import Metrics
import Prometheus

/// A dependency check behind `/health/ready`.
public struct ReadinessCheck: Sendable {
    public var name: String
    public var check: @Sendable () async throws -> Void

    public init(name: String, check: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.check = check
    }
}

/// What `/health/ready` found.
public struct ReadinessReport: Codable, Sendable, Equatable {
    /// `ready` or `unavailable`.
    public var status: String
    /// The dependencies that failed, by name (`postgresql`, `nats`, `redis`).
    public var failed: [String]
    /// Each dependency's `ok` or the reason it failed.
    public var checks: [String: String]
}

/// The operations port of a service: `/health/live`, `/health/ready` and `/metrics`.
public enum OperationsServer {
    public static func build(
        settings: ServiceSettings, checks: [ReadinessCheck], registry: PrometheusCollectorRegistry, logger: Logger
    ) -> some ApplicationProtocol {
        let router = Router()
        router.get("health/live") { _, _ in
            jsonResponse(.ok, #"{"status":"live"}"#)
        }
        router.get("health/ready") { _, _ in
            let report = await readiness(checks)
            let body = (try? String(decoding: JSONEncoder.sorted.encode(report), as: UTF8.self)) ?? "{}"
            if !report.failed.isEmpty {
                logger.warning("not ready", metadata: ["failed": "\(report.failed.joined(separator: ","))"])
            }
            return jsonResponse(report.failed.isEmpty ? .ok : .serviceUnavailable, body)
        }
        router.get("metrics") { _, _ in
            var buffer: [UInt8] = []
            buffer.reserveCapacity(16 * 1024)
            registry.emit(into: &buffer)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
        }
        return Application(
            router: router,
            configuration: .init(address: .hostname(settings.opsHost, port: settings.opsPort), serverName: "switchyard-\(settings.service.rawValue)"),
            logger: logger)
    }

    /// Runs every check at once, each with a 2-second limit, so one hung dependency cannot hang
    /// the probe.
    static func readiness(_ checks: [ReadinessCheck]) async -> ReadinessReport {
        let results = await withTaskGroup(of: (String, String?).self) { group in
            for check in checks {
                group.addTask {
                    do {
                        try await withThrowingTaskGroup(of: Void.self) { inner in
                            inner.addTask { try await check.check() }
                            inner.addTask {
                                try await Task.sleep(for: .seconds(2))
                                throw CheckTimedOut()
                            }
                            defer { inner.cancelAll() }
                            try await inner.next()
                        }
                        return (check.name, nil)
                    } catch {
                        return (check.name, "\(error)")
                    }
                }
            }
            var results: [(String, String?)] = []
            for await result in group { results.append(result) }
            return results
        }
        for (name, failure) in results {
            Gauge(label: "switchyard_dependency_up", dimensions: [("dependency", name)]).record(failure == nil ? 1 : 0)
        }
        let failed = results.filter { $0.1 != nil }.map(\.0).sorted()
        return ReadinessReport(
            status: failed.isEmpty ? "ready" : "unavailable", failed: failed,
            checks: Dictionary(uniqueKeysWithValues: results.map { ($0.0, $0.1 ?? "ok") }))
    }

    private static func jsonResponse(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

struct CheckTimedOut: Error, CustomStringConvertible {
    var description: String { "no answer within 2 s" }
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }
}
