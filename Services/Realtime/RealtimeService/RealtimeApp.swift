import Contracts
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import ServiceLifecycle
import SwitchyardBus
import SwitchyardDatabase
import SwitchyardRuntime

/// The realtime service: a tenant's events as they are published, over a WebSocket at
/// `/v1/realtime`, authenticated by an API key when the socket opens and resumable from the last
/// event a client saw.
public enum RealtimeApp {
    public static let definition = ServiceDefinition(name: .realtime, dependencies: [.postgresql, .nats]) { context in
        let config = try RealtimeConfig(settings: context.settings)
        return try Realtime(config: config, database: context.database!, bus: context.bus!, logger: context.logger).services()
    }
}

public struct RealtimeConfig: Sendable {
    /// `SWITCHYARD_REALTIME_HOST`, `SWITCHYARD_REALTIME_PORT`: where clients connect.
    public var host: String
    public var port: Int
    /// How long a feed that has caught up waits for an event before it asks the stream again:
    /// each open socket asks this often while its tenant is quiet.
    public var idleWait: Duration
    /// `SWITCHYARD_REALTIME_MAX_SOCKETS_PER_TENANT`: sockets one tenant may hold open on one
    /// replica, each a consumer on the stream.
    public var maxSocketsPerTenant: Int
    /// `SWITCHYARD_REALTIME_CURSOR_SECRET`: seals the event ids sockets carry; the same on every
    /// replica, so a client resumes on any of them (`EventCursors`).
    public var cursorSecret: Secret<String>
    /// `SWITCHYARD_REALTIME_PREVIOUS_CURSOR_SECRET`: the secret before the current one, still
    /// accepted for resuming while the secret is changed.
    public var previousCursorSecret: Secret<String>?
    /// `SWITCHYARD_REALTIME_TICKET_SECRET`: checks the tickets gateways issue
    /// (`POST /v1/realtime/tickets`), the same on both; unset, sockets open with API keys only.
    public var ticketSecret: Secret<String>?

    public init(
        cursorSecret: Secret<String>, host: String = "127.0.0.1", port: Int = 28090, idleWait: Duration = .seconds(5),
        maxSocketsPerTenant: Int = 100
    ) {
        self.cursorSecret = cursorSecret
        self.host = host
        self.port = port
        self.idleWait = idleWait
        self.maxSocketsPerTenant = maxSocketsPerTenant
    }

    public init(settings: Settings) throws(ConfigError) {
        guard let secret = try settings.secret("SWITCHYARD_REALTIME_CURSOR_SECRET") else {
            throw ConfigError(variable: "SWITCHYARD_REALTIME_CURSOR_SECRET", reason: "is required")
        }
        self.init(cursorSecret: secret)
        previousCursorSecret = settings.string("SWITCHYARD_REALTIME_PREVIOUS_CURSOR_SECRET").map(Secret.init)
        ticketSecret = try settings.secret("SWITCHYARD_REALTIME_TICKET_SECRET")
        host = settings.string("SWITCHYARD_REALTIME_HOST") ?? host
        port = try settings.port("SWITCHYARD_REALTIME_PORT", default: port)
        maxSocketsPerTenant = try settings.integer("SWITCHYARD_REALTIME_MAX_SOCKETS_PER_TENANT", default: maxSocketsPerTenant, in: 1...100_000)
    }
}

/// The realtime service's parts, wired from its configuration and connected dependencies:
/// `main` and the tests both build it this way.
public struct Realtime: Sendable {
    public let config: RealtimeConfig
    let database: Database
    let bus: Bus
    let feeds: OpenFeeds
    let revocations = RecentRevocations()
    let logger: Logger

    /// Sockets open on this replica.
    public var openSockets: Int { feeds.count }

    public init(config: RealtimeConfig, database: Database, bus: Bus, logger: Logger) {
        self.config = config
        self.database = database
        self.bus = bus
        self.logger = logger
        feeds = OpenFeeds(maxPerTenant: config.maxSocketsPerTenant)
    }

    public func services(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> [any Service] {
        let (feeds, revocations) = (self.feeds, self.revocations)
        return [
            // A revoked key's sockets, a suspended tenant's and those of a member who may no
            // longer subscribe close at once, on every replica.
            EventListener(bus: bus, events: APIKeyRevoked.self, logger: logger) { event in
                revocations.add(event.payload.apiKeyID)
                feeds.close(key: event.payload.apiKeyID)
            },
            EventListener(bus: bus, events: TenantSuspended.self, logger: logger) { event in
                revocations.add(event.tenantID)
                feeds.close(tenant: event.tenantID)
            },
            EventListener(bus: bus, events: MemberChanged.self, logger: logger) { event in
                guard !event.payload.roles.contains(where: { $0.can(.realtimeSubscribe) }) else { return }
                feeds.close(member: event.payload.subject, of: event.tenantID)
            },
            application(onServerRunning: onServerRunning),
            // Last: asked to stop first, so the server does not wait on sockets that stay open.
            ClosingSocketsOnShutdown(feeds: feeds),
        ]
    }

    func application(onServerRunning: @escaping @Sendable (Int) async -> Void) -> some ApplicationProtocol {
        let router = Router(context: RealtimeContext.self)
        let cursors = EventCursors(secret: config.cursorSecret.value, previous: config.previousCursorSecret?.value)
        EventFeedRoutes(
            database: database, bus: bus, feeds: feeds, cursors: cursors, tickets: config.ticketSecret.map(RealtimeTicketSigner.init),
            revocations: revocations, idleWait: config.idleWait
        ).add(to: router)
        let port = config.port
        return Application(
            router: router,
            // The same router decides the upgrade: a request it refuses is answered by it again,
            // as plain HTTP, with the refusal's status and body.
            server: .http1WebSocketUpgrade(webSocketRouter: router),
            configuration: .init(address: .hostname(config.host, port: port), serverName: "switchyard-realtime"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
            logger: logger)
    }
}
