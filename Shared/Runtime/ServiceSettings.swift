import Contracts
import Foundation
import Logging

/// What every service reads at start: where its dependencies are, its operations port, logging.
public struct ServiceSettings: Sendable {
    public enum LogFormat: String, Sendable, CaseIterable { case json, text }
    public enum LogLevel: String, Sendable, CaseIterable {
        case trace, debug, info, notice, warning, error, critical
        var level: Logger.Level { Logger.Level(rawValue: rawValue)! }
    }

    public var service: ServiceName
    /// Distinguishes replicas in logs; defaults to `<service>-<pid>`.
    public var instance: String
    public var databaseURL: Secret<String>?
    public var natsURL: String?
    public var redisURL: Secret<String>?
    /// Where `/health/live`, `/health/ready` and `/metrics` are served.
    public var opsHost: String
    public var opsPort: Int
    public var logLevel: Logger.Level
    public var logFormat: LogFormat
    public var databaseConnections: Int
    /// `SWITCHYARD_SHUTDOWN_GRACE`: how long graceful shutdown may take before what is left is cancelled.
    public var shutdownGrace: Duration

    /// Default operations ports, one per service, in a range clear of the usual ones.
    public static func defaultOpsPort(_ service: ServiceName) -> Int {
        28180 + ServiceName.allCases.firstIndex(of: service)!
    }

    public init(service: ServiceName, dependencies: Set<Dependency>, settings: Settings) throws(ConfigError) {
        self.service = service
        let prefix = "SWITCHYARD_\(service.rawValue.uppercased())"
        instance = settings.string("SWITCHYARD_INSTANCE") ?? "\(service.rawValue)-\(ProcessInfo.processInfo.processIdentifier)"
        databaseURL = dependencies.contains(.postgresql) ? Secret(try settings.required("DATABASE_URL")) : nil
        natsURL = dependencies.contains(.nats) ? try settings.required("NATS_URL") : nil
        redisURL = dependencies.contains(.redis) ? Secret(try settings.required("REDIS_URL")) : nil
        opsHost = settings.string("SWITCHYARD_OPS_HOST") ?? "127.0.0.1"
        opsPort = try settings.port("\(prefix)_OPS_PORT", default: Self.defaultOpsPort(service))
        logLevel = try settings.choice("SWITCHYARD_LOG_LEVEL", default: LogLevel.info).level
        logFormat = try settings.choice("SWITCHYARD_LOG_FORMAT", default: LogFormat.json)
        databaseConnections = try settings.integer("\(prefix)_DATABASE_CONNECTIONS", default: 10, in: 1...500)
        shutdownGrace = try settings.duration("SWITCHYARD_SHUTDOWN_GRACE", default: .seconds(15))
    }
}

/// What a service connects to at start and checks in `/health/ready`.
public enum Dependency: String, Sendable, CaseIterable, Hashable {
    case postgresql, nats, redis
}
