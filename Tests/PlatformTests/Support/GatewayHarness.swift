import AsyncHTTPClient
import AnalyticsService
import BillingService
import Contracts
import Foundation
@testable import GatewayService
import IngestionService
import OrchestratorService
import NIOCore
import NIOHTTP1
import RouterService
import ServiceLifecycle
import SwitchyardBus
import SwitchyardDatabase
import SwitchyardRedis
import SwitchyardRuntime
import Synchronization
import Testing

/// Gateways (one or more replicas) and a router on a NATS server of the test's own, with the
/// shared PostgreSQL and Redis: the gateway's whole path, in process, on ports of its own.
struct GatewayUnderTest: Sendable {
    /// One base URL per replica, e.g. `http://127.0.0.1:41234`.
    var urls: [String]
    var bus: Bus
    var database: Database
    var redis: RedisClient
    /// `usage.recorded` events of the tenant given to `withGateway`.
    var usage: DeliveryLog
    /// Each replica's quota settlements under way after their answers.
    var settlements: [WorkAfterAnswer]
    var url: String { urls[0] }

    /// `count` chat completions sent at once, spread over the replicas in turn.
    func chatAtOnce(_ count: Int, key: String, body: String) async throws -> [HTTPAnswer] {
        try await withThrowingTaskGroup(of: HTTPAnswer.self) { group in
            for index in 0..<count {
                let url = urls[index % urls.count] + "/v1/chat/completions"
                group.addTask { try await send(.POST, url, key: key, json: body) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
    }

    /// Waits until every call answered so far has settled its quotas.
    func settled() async throws {
        let done = try await eventually(timeout: .seconds(5)) { settlements.allSatisfy { $0.count == 0 } }
        try #require(done, "quota settlements still under way")
    }
}

/// The catalog the gateway tests use: the built-in local model, fast and paced.
let gatewayTestCatalog = try! CatalogFile.parse("""
    models:
      local-chat:
        deployments:
          - name: local/test-chat
            provider: local
            upstream_model: local-chat
            price: {input_micros_per_million: 500000, output_micros_per_million: 1500000}
            context_window: 4096
            capabilities: [chat, streaming]
      slow-chat:
        deployments:
          - name: local/slow-chat
            provider: local
            upstream_model: local-chat
            price: {input_micros_per_million: 1000000, output_micros_per_million: 2000000}
            context_window: 4096
            capabilities: [chat, streaming]
            tokens_per_second: 20
      pricey-chat:
        deployments:
          - name: local/pricey-chat
            provider: local
            upstream_model: local-chat
            price: {input_micros_per_million: 5000000000, output_micros_per_million: 5000000000}
            context_window: 4096
            capabilities: [chat, streaming]
      local-embedding:
        deployments:
          - name: local/test-embedding
            provider: local
            upstream_model: local-embedding
            price: {input_micros_per_million: 20000, output_micros_per_million: 0}
            context_window: 512
            capabilities: [embeddings]
    """, file: "gateway test catalog")

///
/// `redis` is the gateways' Redis client when given (the caller closes it), else one of their
/// own on the test Redis.
func withGateway(
    tenant: UUID, replicas: Int = 1, config: GatewayConfig = GatewayConfig(port: 0, keyCacheTimeToLive: .seconds(60)),
    catalog: Catalog = gatewayTestCatalog, redis: RedisClient? = nil, _ body: (GatewayUnderTest) async throws -> Void
) async throws {
    try await withGateway(
        tenant: tenant, catalogStore: CatalogStore(catalog, path: "(test catalog)"), replicas: replicas, config: config, redis: redis, body)
}

/// A gateway whose router serves a catalog file (which `POST /admin/catalog/reload` reads
/// again). The router and the gateways share one pool of database connections.
func withGateway(
    tenant: UUID, catalogStore: CatalogStore, replicas: Int = 1, config: GatewayConfig, redis: RedisClient? = nil,
    _ body: (GatewayUnderTest) async throws -> Void
) async throws {
    try await withDatabase { database in
        try await withRouter(catalogStore: catalogStore, database: database, tenant: tenant) { bus, usage in
            try await withGateway(bus: bus, database: database, usage: usage, replicas: replicas, config: config, redis: redis, body)
        }
    }
}

/// A gateway on a NATS server where no router listens yet: `body` gets the gateway and a way to
/// run the router (beside the closure given to it) when it wants, as when a router restarts or
/// starts beside its gateway.
func withGatewayBeforeItsRouter(
    tenant: UUID, _ body: (GatewayUnderTest, _ runRouter: (_ whileRunning: () async throws -> Void) async throws -> Void) async throws -> Void
) async throws {
    try await withDatabase { database in
        try await withPrivateBus(tenant: tenant) { bus, usage in
            let config = GatewayConfig(port: 0, keyCacheTimeToLive: .seconds(60))
            try await withGateway(bus: bus, database: database, usage: usage, replicas: 1, config: config, redis: nil) { gateway in
                let router = routerServices(bus: bus, catalogStore: CatalogStore(gatewayTestCatalog, path: "(test catalog)"), database: database)
                try await body(gateway) { whileRunning in try await withRunning(router, whileRunning) }
            }
        }
    }
}

private func withGateway(
    bus: Bus, database: Database, usage: DeliveryLog, replicas: Int, config: GatewayConfig, redis given: RedisClient?,
    _ body: (GatewayUnderTest) async throws -> Void
) async throws {
    let redis = try given ?? RedisClient(url: TestEnvironment.redisURL)
    let ports = PortList()
    var services: [any Service] = []
    var settlements: [WorkAfterAnswer] = []
    for _ in 0..<replicas {
        let gateway = Gateway(config: config, database: database, bus: bus, redis: redis, logger: TestEnvironment.logger)
        services += try gateway.services { port in ports.append(port) }
        settlements.append(gateway.calls.settlements)
    }
    do {
        try await withServiceGroup(services) {
            let bound = try await eventually(timeout: .seconds(10)) { ports.count == replicas }
            try #require(bound, "the gateways did not start listening")
            try await body(GatewayUnderTest(
                urls: ports.values.map { "http://127.0.0.1:\($0)" }, bus: bus, database: database, redis: redis, usage: usage,
                settlements: settlements))
        }
    } catch {
        if given == nil { await redis.close() }
        throw error
    }
    if given == nil { await redis.close() }
}

final class PortList: Sendable {
    private let ports = Mutex<[Int]>([])
    func append(_ port: Int) { ports.withLock { $0.append(port) } }
    var count: Int { ports.withLock { $0.count } }
    var values: [Int] { ports.withLock { $0 } }
}

/// An API key of a tenant, created as the admin API does.
func makeKey(
    _ database: Database, tenant: UUID, role: Role = .developer, models: [String]? = nil,
    limits: QuotaLimits? = nil, tenantLimits: QuotaLimits? = nil
) async throws -> (id: UUID, secret: String) {
    try await database.withTenant(tenant) { tx in
        let (record, secret) = try await APIKeyRepository.create(name: "test key", role: role, allowedModels: models, in: tx)
        if let limits { _ = try await QuotaLimitsRepository.setKeyLimits(limits, keyID: record.id, in: tx) }
        if let tenantLimits { try await QuotaLimitsRepository.setTenantLimits(tenantLimits, in: tx) }
        return (record.id, secret.value)
    }
}

/// A tenant with one key, ready to call the gateway.
func makeTenantWithKey(
    _ database: Database, role: Role = .developer, models: [String]? = nil, limits: QuotaLimits? = nil, tenantLimits: QuotaLimits? = nil
) async throws -> (tenant: UUID, key: String) {
    let tenant = try await makeTenant(database)
    let key = try await makeKey(database, tenant: tenant, role: role, models: models, limits: limits, tenantLimits: tenantLimits)
    return (tenant, key.secret)
}

/// A whole HTTP answer.
struct HTTPAnswer: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: Data

    var text: String { String(decoding: body, as: UTF8.self) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T { try JSONCoding.decode(type, from: body) }

    /// The OpenAI error body, or nil when the body is not one.
    var error: ErrorBody.Detail? { (try? decode(ErrorBody.self))?.error }

    /// The `data:` payloads of a server-sent event stream, in order.
    var events: [String] {
        text.components(separatedBy: "\n\n").compactMap { event in
            event.hasPrefix("data: ") ? String(event.dropFirst(6)) : nil
        }
    }
}

/// Sends one request and reads the whole answer.
func send(
    _ method: HTTPMethod, _ url: String, key: String? = nil, json: String? = nil, headers: [(String, String)] = [],
    timeout: TimeAmount = .seconds(30)
) async throws -> HTTPAnswer {
    var request = HTTPClientRequest(url: url)
    request.method = method
    if let key { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
    if let json {
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: json))
    }
    for (name, value) in headers { request.headers.replaceOrAdd(name: name, value: value) }
    let response = try await HTTPClient.shared.execute(request, timeout: timeout)
    let body = try await response.body.collect(upTo: 64 << 20)
    return HTTPAnswer(status: Int(response.status.code), headers: response.headers, body: Data(buffer: body))
}

/// A chat request body as an OpenAI SDK sends it.
func chatJSON(model: String = "local-chat", prompt: String = "What does the gateway do?", maxTokens: Int? = nil, stream: Bool = false, includeUsage: Bool = false) -> String {
    var fields = [#""model":"\#(model)""#, #""messages":[{"role":"user","content":"\#(prompt)"}]"#]
    if let maxTokens { fields.append(#""max_tokens":\#(maxTokens)"#) }
    if stream { fields.append(#""stream":true"#) }
    if includeUsage { fields.append(#""stream_options":{"include_usage":true}"#) }
    return "{" + fields.joined(separator: ",") + "}"
}

/// Billing's ledger consumer (for `tenant`'s usage only, under a name of its own) and its usage
/// responder, on the gateway's bus: for tests that read usage or spend budgets.
func billingServices(_ gateway: GatewayUnderTest, tenant: UUID) -> [any Service] {
    BillingApp.services(
        bus: gateway.bus, database: gateway.database, consumerName: uniqueName("billing"),
        filterSubject: Subject.event(tenant: tenant, type: UsageRecorded.eventType), logger: TestEnvironment.logger)
}

/// Analytics' projection (of `tenant`'s events only, under a name of its own) and its usage
/// responder, on the gateway's bus.
func analyticsServices(_ gateway: GatewayUnderTest, tenant: UUID) -> [any Service] {
    AnalyticsApp.services(
        bus: gateway.bus, database: gateway.database, consumerName: uniqueName("analytics"),
        filterSubject: Subject.events(ofTenant: tenant), logger: TestEnvironment.logger)
}

/// The ingestion service (indexing `tenant`'s uploads only, under a consumer name of its own)
/// and its responders, on the gateway's bus.
func ingestionServices(_ gateway: GatewayUnderTest, tenant: UUID, config: IngestionConfig = IngestionConfig()) -> [any Service] {
    IngestionApp.services(
        config: config, bus: gateway.bus, database: gateway.database, consumerName: uniqueName("ingestion"),
        filterSubject: Subject.event(tenant: tenant, type: DocumentUploaded.eventType), logger: TestEnvironment.logger)
}

/// The orchestrator (carrying out `tenant`'s runs only, under a consumer name of its own) and
/// its responders, on the gateway's bus; steps retry at once.
func orchestratorServices(_ gateway: GatewayUnderTest, tenant: UUID) -> [any Service] {
    OrchestratorApp.services(
        config: OrchestratorConfig(retryDelays: [.milliseconds(10)]), bus: gateway.bus, database: gateway.database,
        consumerName: uniqueName("orchestrator"), filterSubject: Subject.event(tenant: tenant, type: RunRequested.eventType),
        logger: TestEnvironment.logger)
}

/// A proxy in front of the test Redis holding back the gateway's quota settlements, and a
/// Redis client through it that waits for a held command as long as a test could.
func holdingQuotaSettlements() async throws -> (RedisHoldingProxy, RedisClient) {
    let proxy = try await RedisHoldingProxy.started(holding: QuotaScripts.settle)
    return (proxy, try RedisClient(url: proxy.url, timeout: .seconds(120)))
}
