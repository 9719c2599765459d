import Contracts
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import SwitchyardBus
import SwitchyardDatabase
import SwitchyardRedis
import SwitchyardRuntime

/// The gateway: Switchyard's public door. The OpenAI-compatible API under `/v1`, authenticated
/// by API keys, with quotas in Redis and every model call forwarded to the router over NATS.
public enum GatewayApp {
    public static let definition = ServiceDefinition(name: .gateway, dependencies: [.postgresql, .nats, .redis]) { context in
        let config = try GatewayConfig(settings: context.settings)
        let gateway = Gateway(config: config, database: context.database!, bus: context.bus!, redis: context.redis!, logger: context.logger)
        return try gateway.services()
    }
}

/// The gateway's parts, wired from its configuration and connected dependencies: `main` and the
/// tests both build it this way.
public struct Gateway: Sendable {
    public let config: GatewayConfig
    let keys: APIKeyAuthenticator
    let tokens: TokenAuthenticator?
    let database: Database
    let bus: Bus
    let calls: ModelCalls
    let modelTerms: ModelTerms
    let idempotency: IdempotencyMiddleware?
    let redis: RedisClient?
    let logger: Logger

    public init(config: GatewayConfig, database: Database, bus: Bus, redis: RedisClient?, logger: Logger) {
        self.config = config
        self.database = database
        self.bus = bus
        self.redis = redis
        self.logger = logger
        keys = APIKeyAuthenticator(database: database, timeToLive: config.keyCacheTimeToLive)
        tokens = config.jwt.map { TokenAuthenticator(settings: $0, database: database, httpClient: .shared, logger: logger) }
        let billing = BillingClient(bus: bus)
        let quotas = redis.map {
            QuotaLimiter(
                redis: $0, failureMode: config.rateLimitsWhenRedisDown, leaseLength: config.modelCallTimeout + .seconds(30),
                spendSoFar: { tenant, key, from, to in
                    try await billing.usage(tenant: tenant, apiKey: key, from: from, to: to, correlationID: "budget-seed").totals.costMicros
                },
                announce: { event, tenant in
                    // The id repeats for the same crossing, so a repeated publish is stored once.
                    let name = "budget.threshold_crossed:\(tenant):\(event.apiKeyID.map(Subject.token) ?? "tenant"):\(event.period):\(event.thresholdPercent)"
                    do {
                        _ = try await bus.publish(Envelope(id: .derived(from: name), tenantID: tenant, payload: event))
                    } catch {
                        logger.error("budget.threshold_crossed not published", metadata: ["error": "\(error)"])
                    }
                },
                logger: logger)
        }
        let router = RouterClient(bus: bus, timeout: config.modelCallTimeout)
        modelTerms = ModelTerms(router: router)
        calls = ModelCalls(
            router: router, quotas: quotas, modelTerms: modelTerms,
            settlements: WorkAfterAnswer(name: "quota_settlements", logger: logger), logger: logger)
        idempotency = redis.map {
            IdempotencyMiddleware(
                store: IdempotencyStore(redis: $0), maxBodyBytes: config.maxBodyBytes,
                lease: config.modelCallTimeout + .seconds(30), waitLimit: config.modelCallTimeout)
        }
    }

    /// What the gateway runs: the listeners that keep its key cache current, the budget counters'
    /// checks against the ledger, the quota settlements calls leave behind (stopped after the
    /// server, so shutdown waits for them), then the HTTP server. `onServerRunning` is told the
    /// bound port (the tests bind port 0).
    public func services(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> [any Service] {
        cacheInvalidation() + budgetChecks() + [calls.settlements, try application(onServerRunning: onServerRunning)]
    }

    /// The budget counters' checks against the ledger, when there are budgets to check.
    func budgetChecks() -> [any Service] {
        guard let quotas = calls.quotas, config.budgetCheckInterval > .zero else { return [] }
        let billing = BillingClient(bus: bus)
        return [BudgetReconciler(
            limiter: quotas,
            ledgerSpend: { tenant, key, from, to in
                try await billing.budgetSpend(tenant: tenant, apiKey: key, from: from, to: to, correlationID: "budget-check")
            },
            interval: config.budgetCheckInterval, logger: logger)]
    }

    /// A revoked key leaves the cache at once; a tenant whose limits changed has its keys read
    /// again, with the new limits, on their next use; so does a member whose roles changed, and
    /// the model terms of a tenant whose routing or prices changed, and every tenant's when a
    /// router reloaded its catalog.
    func cacheInvalidation() -> [EventListener] {
        let (keys, tenants, terms) = (self.keys, tokens?.tenants, modelTerms)
        return [
            listener(for: APIKeyRevoked.self) { event in keys.forget(prefix: event.payload.prefix) },
            listener(for: QuotaLimitsChanged.self) { event in
                keys.forget(tenant: event.tenantID)
                tenants?.forget(event.tenantID)
            },
            listener(for: BudgetChanged.self) { event in
                keys.forget(tenant: event.tenantID)
                tenants?.forget(event.tenantID)
            },
            listener(for: MemberChanged.self) { event in tenants?.forget(member: event.payload.subject, of: event.tenantID) },
            listener(for: RoutingChanged.self) { event in terms.forget(event.tenantID) },
            listener(for: PricesChanged.self) { event in
                event.tenantID == .everyTenant ? terms.forgetAll() : terms.forget(event.tenantID)
            },
            listener(for: CatalogReloaded.self) { _ in terms.forgetAll() },
        ]
    }

    private func listener<Payload: EventPayload>(for type: Payload.Type, _ apply: @escaping @Sendable (Envelope<Payload>) -> Void) -> EventListener {
        EventListener(bus: bus, events: type, logger: logger, apply: apply)
    }

    func application(onServerRunning: @escaping @Sendable (Int) async -> Void) throws -> some ApplicationProtocol {
        let port = config.port
        return Application(
            router: try router(),
            configuration: .init(address: .hostname(config.host, port: port), serverName: "switchyard-gateway"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
            logger: logger)
    }

    /// Every route of the public API; `/openapi.json` describes exactly these.
    func router() throws -> Router<GatewayContext> {
        let router = Router(context: GatewayContext.self)
        let routes = RouteTable()
        router.middlewares.add(ErrorMiddleware(routes: routes))
        let document = OpenAPIDocument.Served()
        router.get("openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: try document.json()))
        }
        let body = JSONBody(maxBytes: config.maxBodyBytes)
        let v1 = router.group("v1").add(middleware: AuthenticationMiddleware(keys: keys, tokens: tokens, adminToken: config.adminToken, acceptsAdminToken: false))
        let admin = router.group("admin").add(middleware: AuthenticationMiddleware(keys: keys, tokens: tokens, adminToken: config.adminToken, acceptsAdminToken: true))
        if let idempotency {
            v1.add(middleware: idempotency)
            admin.add(middleware: idempotency)
        }
        InferenceRoutes(calls: calls, body: body).addRoutes(to: v1)
        UsageRoutes(billing: BillingClient(bus: bus)).addRoutes(to: v1)
        InvoiceRoutes(billing: BillingClient(bus: bus)).addRoutes(to: v1)
        PaymentWebhookRoutes(secret: config.paymentWebhookSecret, billing: BillingClient(bus: bus), redis: redis, body: body).addRoutes(to: router)
        AnalyticsRoutes(analytics: AnalyticsClient(bus: bus)).addRoutes(to: v1)
        RealtimeTicketRoutes(signer: config.realtimeTicketSecret.map(RealtimeTicketSigner.init)).addRoutes(to: v1)
        DocumentRoutes(documents: DocumentCalls(ingestion: IngestionClient(bus: bus), calls: calls, embeddingModel: config.documentsEmbeddingModel),
                       body: body).addRoutes(to: v1)
        let orchestrator = OrchestratorClient(bus: bus)
        WorkflowRoutes(
            orchestrator: orchestrator, runs: WorkflowCalls(orchestrator: orchestrator, calls: calls, embeddingModel: config.documentsEmbeddingModel),
            body: body
        ).addRoutes(to: v1)
        AdminRoutes(database: database, bus: bus, body: body).addRoutes(to: admin)
        routes.load(router.routes.map { ($0.method, $0.path.description) })
        return router
    }
}

public struct GatewayConfig: Sendable {
    /// `SWITCHYARD_GATEWAY_HOST`, `SWITCHYARD_GATEWAY_PORT`: where the public API listens.
    public var host: String
    public var port: Int
    /// `SWITCHYARD_GATEWAY_MAX_BODY_BYTES`: larger request bodies answer 413.
    public var maxBodyBytes: Int
    /// `SWITCHYARD_GATEWAY_MODEL_TIMEOUT`: how long a model call may take end to end.
    public var modelCallTimeout: Duration
    /// `SWITCHYARD_ADMIN_TOKEN`: the platform operator's bearer token for `/admin`; unset, only
    /// tenants' owners and admins reach their own tenant there.
    public var adminToken: Secret<String>?
    /// `SWITCHYARD_GATEWAY_KEY_CACHE_TTL`: how long a key is trusted from memory. Revocations
    /// arrive as events within milliseconds; this bounds a replica that missed one.
    public var keyCacheTimeToLive: Duration
    /// `SWITCHYARD_RATE_LIMITS_WHEN_REDIS_DOWN`: `open` (default) lets requests through while
    /// Redis is unreachable, `closed` refuses them with 503.
    public var rateLimitsWhenRedisDown: QuotaLimiter.RedisFailureMode
    /// Bearer tokens from an identity provider (`SWITCHYARD_JWT_*`); nil refuses them.
    public var jwt: JWTSettings?
    /// `SWITCHYARD_PAYMENT_WEBHOOK_SECRET` (32 characters at least): signs the payment provider's
    /// calls to `POST /webhooks/payments`; unset, that route answers 404.
    public var paymentWebhookSecret: Secret<String>?
    /// `SWITCHYARD_REALTIME_TICKET_SECRET` (32 characters at least, the same as the realtime
    /// service's): signs the tickets of `POST /v1/realtime/tickets`; unset, that route answers 404.
    public var realtimeTicketSecret: Secret<String>?
    /// `SWITCHYARD_GATEWAY_BUDGET_CHECK_INTERVAL`: how often each budget counter in use is
    /// checked against billing's ledger and corrected (`BudgetReconciler`); `0s` never.
    public var budgetCheckInterval: Duration = .seconds(300)
    /// `SWITCHYARD_DOCUMENTS_EMBEDDING_MODEL`: the catalog model documents' chunks and search
    /// queries are embedded with. A document keeps the model it was indexed with; searches find
    /// the documents indexed with the model in force.
    public var documentsEmbeddingModel = "local-embedding"

    public init(
        host: String = "127.0.0.1", port: Int = 28080, maxBodyBytes: Int = 4 << 20, modelCallTimeout: Duration = .seconds(300),
        adminToken: Secret<String>? = nil, keyCacheTimeToLive: Duration = .seconds(60),
        rateLimitsWhenRedisDown: QuotaLimiter.RedisFailureMode = .open, jwt: JWTSettings? = nil,
        paymentWebhookSecret: Secret<String>? = nil
    ) {
        self.host = host
        self.port = port
        self.maxBodyBytes = maxBodyBytes
        self.modelCallTimeout = modelCallTimeout
        self.adminToken = adminToken
        self.keyCacheTimeToLive = keyCacheTimeToLive
        self.rateLimitsWhenRedisDown = rateLimitsWhenRedisDown
        self.jwt = jwt
        self.paymentWebhookSecret = paymentWebhookSecret
    }

    public init(settings: Settings) throws(ConfigError) {
        self.init()
        host = settings.string("SWITCHYARD_GATEWAY_HOST") ?? host
        port = try settings.port("SWITCHYARD_GATEWAY_PORT", default: port)
        maxBodyBytes = try settings.integer("SWITCHYARD_GATEWAY_MAX_BODY_BYTES", default: maxBodyBytes, in: 1024...(256 << 20))
        modelCallTimeout = try settings.duration("SWITCHYARD_GATEWAY_MODEL_TIMEOUT", default: modelCallTimeout)
        adminToken = try settings.secret("SWITCHYARD_ADMIN_TOKEN")
        keyCacheTimeToLive = try settings.duration("SWITCHYARD_GATEWAY_KEY_CACHE_TTL", default: keyCacheTimeToLive)
        rateLimitsWhenRedisDown = try settings.choice("SWITCHYARD_RATE_LIMITS_WHEN_REDIS_DOWN", default: rateLimitsWhenRedisDown)
        jwt = try JWTSettings(settings: settings)
        budgetCheckInterval = try settings.duration("SWITCHYARD_GATEWAY_BUDGET_CHECK_INTERVAL", default: budgetCheckInterval)
        documentsEmbeddingModel = settings.string("SWITCHYARD_DOCUMENTS_EMBEDDING_MODEL") ?? documentsEmbeddingModel
        realtimeTicketSecret = try settings.secret("SWITCHYARD_REALTIME_TICKET_SECRET")
        paymentWebhookSecret = try settings.secret("SWITCHYARD_PAYMENT_WEBHOOK_SECRET")
    }
}
