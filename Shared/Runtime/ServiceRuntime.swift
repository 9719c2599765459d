import Contracts
import Foundation
import Logging
import Metrics
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle
import SwitchyardBus
import SwitchyardDatabase
import SwitchyardRedis

/// The connected dependencies a service builds its features from.
public struct ServiceContext: Sendable {
    public var settings: Settings
    public var service: ServiceSettings
    public var logger: Logger
    /// Present when the service declared the dependency.
    public var database: Database?
    public var bus: Bus?
    public var redis: RedisClient?
}

/// A service's description: what it needs and what it runs once those are connected.
public struct ServiceDefinition: Sendable {
    public var name: ServiceName
    public var dependencies: Set<Dependency>
    /// Returns the service's own long-running parts (consumers, responders, HTTP servers), in
    /// dependency order. They start after the database pool and stop before it.
    public var build: @Sendable (ServiceContext) async throws -> [any Service]

    public init(name: ServiceName, dependencies: Set<Dependency>, build: @escaping @Sendable (ServiceContext) async throws -> [any Service]) {
        self.name = name
        self.dependencies = dependencies
        self.build = build
    }
}

public enum ServiceRuntime {
    /// The whole life of a service process: read and check its settings, set up logs and metrics,
    /// connect, serve until SIGTERM or SIGINT, then shut down gracefully. Exits with status 78
    /// on a configuration error and 1 when it cannot start.
    public static func main(_ definition: ServiceDefinition) async -> Never {
        // Swift tasks run on NIO's event loops instead of a pool of their own: a request no
        // longer changes threads each time it goes from socket to handler and back (measured
        // by `make bench`). Nothing in the services blocks a task's thread; blocking C calls
        // run on thread pools of their own.
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        let settings: Settings
        let serviceSettings: ServiceSettings
        do {
            settings = try await Settings.load()
            serviceSettings = try ServiceSettings(service: definition.name, dependencies: definition.dependencies, settings: settings)
        } catch {
            FileHandle.standardError.write(Data("\(definition.name.rawValue): configuration error: \(error)\n".utf8))
            exit(78)  // EX_CONFIG
        }
        let registry = bootstrapObservability(serviceSettings)
        let logger = Logger(label: "switchyard.\(definition.name.rawValue)")
        raiseOpenFileLimit(logger: logger)
        do {
            try await run(definition, settings: settings, serviceSettings: serviceSettings, registry: registry, logger: logger)
            exit(0)
        } catch let error as any ConfigurationProblem {
            logger.critical("configuration error", metadata: ["error": "\(error)"])
            exit(78)
        } catch {
            logger.critical("stopped", metadata: ["error": "\(error)"])
            exit(1)
        }
    }

    /// Every connection is a file descriptor: a gateway holding a thousand streams needs more
    /// than the soft limit many systems start processes with (1024). Takes the hard limit, as
    /// servers such as nginx and Go's runtime do.
    static func raiseOpenFileLimit(logger: Logger) {
        var limit = rlimit()
        guard getrlimit(openFilesResource, &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        let before = limit.rlim_cur
        limit.rlim_cur = limit.rlim_max
        if setrlimit(openFilesResource, &limit) == 0 {
            logger.debug("open file limit raised", metadata: ["from": "\(before)", "to": "\(limit.rlim_max)"])
        }
    }

    public static func run(
        _ definition: ServiceDefinition, settings: Settings, serviceSettings: ServiceSettings,
        registry: PrometheusCollectorRegistry, logger: Logger
    ) async throws {
        var context = ServiceContext(settings: settings, service: serviceSettings, logger: logger)
        var checks: [ReadinessCheck] = []
        var services: [any Service] = []

        if let url = serviceSettings.databaseURL {
            let database = try Database(url: url.value, maximumConnections: serviceSettings.databaseConnections, logger: logger)
            context.database = database
            services.append(database)
            checks.append(ReadinessCheck(name: Dependency.postgresql.rawValue) { try await database.ping() })
        }
        if let url = serviceSettings.natsURL {
            let bus = try await Bus.connect(.init(url: url, name: serviceSettings.instance), logger: logger)
            try await bus.ensureStreams()
            context.bus = bus
            checks.append(ReadinessCheck(name: Dependency.nats.rawValue) {
                guard bus.isConnected else { throw BusError.unreachable(url: url, reason: "reconnecting") }
            })
        }
        if let url = serviceSettings.redisURL {
            let redis = try RedisClient(url: url.value)
            context.redis = redis
            checks.append(ReadinessCheck(name: Dependency.redis.rawValue) { try await redis.ping() })
        }

        services += try await definition.build(context)
        services.append(OperationsServer.build(settings: serviceSettings, checks: checks, registry: registry, logger: logger))
        services.append(ShutdownWatchdog(grace: serviceSettings.shutdownGrace, logger: logger))

        logger.info("starting", metadata: [
            "ops": "\(serviceSettings.opsHost):\(serviceSettings.opsPort)",
            "dependencies": "\(definition.dependencies.map(\.rawValue).sorted().joined(separator: ","))",
        ])
        var configuration = ServiceGroupConfiguration(
            services: services.map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        // Work in hand gets this long to finish; then what is left is cancelled, so a stuck
        // part cannot keep the process from stopping (and an orchestrator from killing it).
        configuration.maximumGracefulShutdownDuration = serviceSettings.shutdownGrace
        let group = ServiceGroup(configuration: configuration)
        do {
            try await group.run()
        } catch {
            await context.bus?.close()
            await context.redis?.close()
            throw error
        }
        await context.bus?.close()
        await context.redis?.close()
        logger.info("stopped")
    }

    /// Installs the JSON (or text) log handler and the Prometheus metrics factory, once per
    /// process, and returns the registry `/metrics` renders.
    public static func bootstrapObservability(_ settings: ServiceSettings) -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        let level = settings.logLevel
        switch settings.logFormat {
        case .json:
            LoggingSystem.bootstrap { label in
                var handler = JSONLogHandler(label: label, service: settings.service.rawValue, instance: settings.instance)
                handler.logLevel = level
                return handler
            }
        case .text:
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        }
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        Gauge(label: "switchyard_service_info", dimensions: [("service", settings.service.rawValue), ("instance", settings.instance)]).record(1)
        return registry
    }
}

#if os(Linux)
private let openFilesResource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
#else
private let openFilesResource = RLIMIT_NOFILE
#endif

/// The last resort of a stopping process: once its shutdown begins, if the process is still
/// there five seconds after the shutdown grace (when what was left has been cancelled), it says
/// so and exits with status 1. A part that cannot be cancelled, or a deadlock on the event loops
/// that run every task (which would also hold back a timer among those tasks), must not keep a
/// process from stopping: an operator, or a supervisor waiting for it, would wait for ever. The
/// timer runs on Dispatch's threads, apart from the event loops. Last in a service group, it is
/// the first told of the shutdown.
struct ShutdownWatchdog: Service {
    let grace: Duration
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        let limit = grace + .seconds(5)
        let logger = self.logger
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(limit.components.seconds * 1000))) {
            logger.critical("shutdown did not finish; exiting", metadata: ["after": "\(limit)"])
            exit(1)
        }
    }
}
