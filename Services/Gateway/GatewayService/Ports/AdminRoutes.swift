import Contracts
import Foundation
import Hummingbird
import HTTPTypes
import SwitchyardAdministration
import SwitchyardBus
import SwitchyardDatabase

/// The admin API under `/admin`: for the platform operator (the admin token) on every tenant,
/// and for a tenant's owners and admins (their keys) on their own tenant only. Another tenant's
/// resources answer 404, as if they did not exist.
struct AdminRoutes: Sendable {
    let database: Database
    let bus: Bus
    let body: JSONBody

    func addRoutes(to group: RouterGroup<GatewayContext>) {
        group.post("tenants", use: createTenant)
        group.get("tenants/:tenant", use: showTenant)
        group.get("tenants/:tenant/limits", use: showTenantLimits)
        group.put("tenants/:tenant/limits", use: setTenantLimits)
        group.get("tenants/:tenant/budget", use: showTenantBudget)
        group.put("tenants/:tenant/budget", use: setTenantBudget)
        group.put("api-keys/:key/budget", use: setKeyBudget)
        group.post("tenants/:tenant/api-keys", use: createKey)
        group.get("tenants/:tenant/api-keys", use: listKeys)
        group.delete("api-keys/:key", use: revokeKey)
        group.put("api-keys/:key/limits", use: setKeyLimits)
        group.get("tenants/:tenant/members", use: listMembers)
        group.get("tenants/:tenant/members/:subject", use: showMember)
        group.put("tenants/:tenant/members/:subject", use: setMember)
        group.delete("tenants/:tenant/members/:subject", use: removeMember)
        group.get("tenants/:tenant/audit", use: audit)
        group.get("tenants/:tenant/routing", use: listRouting)
        group.get("tenants/:tenant/routing/:model", use: showRouting)
        group.put("tenants/:tenant/routing/:model", use: setRouting)
        group.delete("tenants/:tenant/routing/:model", use: removeRouting)
        group.get("prices", use: listBookPrices)
        group.post("prices", use: addBookPrice)
        group.get("tenants/:tenant/prices", use: listTenantPrices)
        group.post("tenants/:tenant/prices", use: addTenantPrice)
        group.get("tenants/:tenant/discounts", use: listDiscounts)
        group.post("tenants/:tenant/discounts", use: addDiscount)
        group.post("tenants/:tenant/invoices", use: closeInvoice)
        group.post("tenants/:tenant/invoices/:invoice/status", use: setInvoiceStatus)
        group.post("catalog/reload", use: reloadCatalog)
        group.get("dead-letters", use: listDeadLetters)
        group.get("dead-letters/:sequence", use: showDeadLetter)
        group.post("dead-letters/:sequence/replay", use: replayDeadLetter)
        group.delete("dead-letters/:sequence", use: deleteDeadLetter)
        group.delete("dead-letters", use: purgeDeadLetters)
    }

    // MARK: Tenants

    func createTenant(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        try requireOperator(caller, "create tenants")
        let create = try await body.decode(CreateTenantRequest.self, from: request)
        let (tenant, _) = try await administration(caller).createTenant(name: create.name)
        return try Response.json(tenant, status: .created)
    }

    func showTenant(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        let tenant = try tenantScope(context, caller, needs: .keysRead)
        guard let info = try await administration(caller).tenant(tenant) else { throw APIError.notFound("tenant") }
        return try Response.json(info)
    }

    func showTenantLimits(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        let tenant = try tenantScope(context, caller, needs: .keysRead)
        let administration = administration(caller)
        guard try await administration.tenant(tenant) != nil else { throw APIError.notFound("tenant") }
        return try Response.json(try await administration.limits(tenant: tenant))
    }

    /// The tenant's own limits are the operator's ceiling on it: a tenant that could lift them
    /// would have none. Its owners and admins set limits on their keys instead.
    func setTenantLimits(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        let tenant = try tenantScope(context, caller, needs: .tenantManage)
        try requireOperator(caller, "set a tenant's limits; set limits on keys with PUT /admin/api-keys/{id}/limits")
        let limits = try await body.decode(QuotaLimits.self, from: request)
        guard try await administration(caller).setTenantLimits(limits, tenant: tenant) else { throw APIError.notFound("tenant") }
        return try Response.json(limits)
    }

    // MARK: Budgets

    func showTenantBudget(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        let tenant = try tenantScope(context, caller, needs: .usageRead)
        guard let budget = try await administration(caller).budget(tenant: tenant) else { throw APIError.notFound("budget") }
        return try Response.json(budget)
    }

    /// A tenant may cap its own spending: owners, admins and the billing role set its budget.
    func setTenantBudget(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        let tenant = try tenantScope(context, caller, needs: .billingManage)
        let budget = try await body.decode(Budget.self, from: request)
        guard try await administration(caller).setTenantBudget(budget, tenant: tenant) else { throw APIError.notFound("tenant") }
        return try Response.json(budget)
    }

    func setKeyBudget(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        let (key, tenant) = try await keyScope(context, caller, needs: .billingManage)
        let budget = try await body.decode(Budget.self, from: request)
        guard try await administration(caller).setKeyBudget(budget, key: key, tenant: tenant) else { throw APIError.notFound("API key") }
        return try Response.json(budget)
    }

    // MARK: API keys

    func createKey(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        let tenant = try tenantScope(context, caller, needs: .keysManage)
        let create = try await body.decode(CreateAPIKeyRequest.self, from: request)
        try requireHolds(caller, [create.role], "create a key with", param: "role")
        guard let key = try await administration(caller).createKey(tenant: tenant, create) else { throw APIError.notFound("tenant") }
        return try Response.json(key, status: .created)
    }

    func listKeys(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        let tenant = try tenantScope(context, caller, needs: .keysRead)
        let administration = administration(caller)
        guard try await administration.tenant(tenant) != nil else { throw APIError.notFound("tenant") }
        return try Response.json(ListOf(try await administration.keys(tenant: tenant)))
    }

    func revokeKey(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        let (key, tenant) = try await keyScope(context, caller, needs: .keysManage)
        guard let revoked = try await administration(caller).revokeKey(key, tenant: tenant) else { throw APIError.notFound("API key") }
        return try Response.json(revoked)
    }

    func setKeyLimits(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        let (key, tenant) = try await keyScope(context, caller, needs: .keysManage)
        let limits = try await body.decode(QuotaLimits.self, from: request)
        guard try await administration(caller).setKeyLimits(limits, key: key, tenant: tenant) else { throw APIError.notFound("API key") }
        return try Response.json(limits)
    }

    // MARK: Members

    func listMembers(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        let tenant = try tenantScope(context, caller, needs: .membersManage)
        let administration = administration(caller)
        guard try await administration.tenant(tenant) != nil else { throw APIError.notFound("tenant") }
        return try Response.json(ListOf(try await administration.members(tenant: tenant)))
    }

    func showMember(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        let tenant = try tenantScope(context, caller, needs: .membersManage)
        guard let member = try await administration(caller).member(try subject(context), tenant: tenant) else { throw APIError.notFound("member") }
        return try Response.json(member)
    }

    /// 201 when the person becomes a member, 200 when a member's roles change. Nobody grants
    /// more than they hold, nor changes a member who holds more than they do.
    func setMember(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        let tenant = try tenantScope(context, caller, needs: .membersManage)
        let subject = try subject(context)
        let set = try await body.decode(SetMemberRequest.self, from: request)
        let administration = administration(caller)
        try requireHolds(caller, set.roles, "grant", param: "roles")
        if let existing = try await administration.member(subject, tenant: tenant) {
            try requireHolds(caller, existing.roles, "change a member with", param: "subject")
        }
        guard let answer = try await administration.setMember(subject, set, tenant: tenant) else { throw APIError.notFound("tenant") }
        return try Response.json(answer.member, status: answer.created ? .created : .ok)
    }

    func removeMember(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        let tenant = try tenantScope(context, caller, needs: .membersManage)
        let subject = try subject(context)
        let administration = administration(caller)
        guard let existing = try await administration.member(subject, tenant: tenant) else { throw APIError.notFound("member") }
        try requireHolds(caller, existing.roles, "remove a member with", param: "subject")
        guard let removed = try await administration.removeMember(subject, tenant: tenant) else { throw APIError.notFound("member") }
        return try Response.json(removed)
    }

    // MARK: Audit log

    /// `?after=<seq>&limit=<n>`: entries in order, a page at a time.
    func audit(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        let tenant = try tenantScope(context, caller, needs: .auditRead)
        let after = try Self.integer(request, "after", default: 0, in: 0...Int.max)
        let limit = try Self.integer(request, "limit", default: 100, in: 1...1000)
        let administration = administration(caller)
        guard try await administration.tenant(tenant) != nil else { throw APIError.notFound("tenant") }
        return try Response.json(ListOf(try await administration.auditEntries(tenant: tenant, after: Int64(after), limit: limit)))
    }

    // MARK: A tenant's routing of catalog models

    func listRouting(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        let tenant = try tenantScope(context, caller, needs: .catalogManage)
        let administration = administration(caller)
        guard try await administration.tenant(tenant) != nil else { throw APIError.notFound("tenant") }
        return try Response.json(ListOf(try await administration.routing(tenant: tenant)))
    }

    func showRouting(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        let tenant = try tenantScope(context, caller, needs: .catalogManage)
        guard let override = try await administration(caller).routing(model: try model(context), tenant: tenant) else {
            throw APIError.notFound("routing override")
        }
        return try Response.json(override)
    }

    /// 201 when the tenant's routing of the model is first set, 200 when it changes. The
    /// router checks it against the catalog first: 400 names the field it refuses.
    func setRouting(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        let tenant = try tenantScope(context, caller, needs: .catalogManage)
        let model = try model(context)
        let set = try await body.decode(SetRoutingRequest.self, from: request)
        let answer: (override: RoutingOverride, created: Bool)?
        do {
            answer = try await administration(caller).setRouting(model: model, set, tenant: tenant)
        } catch let error as BusError {
            throw RouterClient.apiError(error)
        }
        guard let answer else { throw APIError.notFound("tenant") }
        return try Response.json(answer.override, status: answer.created ? .created : .ok)
    }

    func removeRouting(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        let tenant = try tenantScope(context, caller, needs: .catalogManage)
        guard let removed = try await administration(caller).removeRouting(model: try model(context), tenant: tenant) else {
            throw APIError.notFound("routing override")
        }
        return try Response.json(removed)
    }

    // MARK: Prices (set by the platform operator)

    /// `?model=`: one model's versions.
    func listBookPrices(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        try requireOperator(caller, "see the price book")
        let model = request.uri.queryParameters.get("model").map { String($0) }
        return try Response.json(ListOf(try await administration(caller).bookPrices(model: model)))
    }

    func addBookPrice(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        try requireOperator(caller, "change the price book")
        let set = try await body.decode(SetPriceRequest.self, from: request)
        return try Response.json(try await administration(caller).addBookPrice(set), status: .created)
    }

    /// A tenant's own prices: the operator, and the tenant's people who read its invoices.
    func listTenantPrices(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        let tenant = try tenantScope(context, caller, needs: .invoicesRead)
        let administration = administration(caller)
        guard try await administration.tenant(tenant) != nil else { throw APIError.notFound("tenant") }
        return try Response.json(ListOf(try await administration.tenantPrices(tenant: tenant)))
    }

    func addTenantPrice(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        let tenant = try tenantScope(context, caller, needs: .tenantManage)
        try requireOperator(caller, "set a tenant's prices")
        let set = try await body.decode(SetPriceRequest.self, from: request)
        guard let added = try await administration(caller).addTenantPrice(set, tenant: tenant) else { throw APIError.notFound("tenant") }
        return try Response.json(added, status: .created)
    }

    // MARK: Discounts and invoices (the platform operator)

    func listDiscounts(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        let tenant = try tenantScope(context, caller, needs: .invoicesRead)
        let administration = administration(caller)
        guard try await administration.tenant(tenant) != nil else { throw APIError.notFound("tenant") }
        return try Response.json(ListOf(try await administration.discounts(tenant: tenant)))
    }

    func addDiscount(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        let tenant = try tenantScope(context, caller, needs: .tenantManage)
        try requireOperator(caller, "set a tenant's discount")
        let set = try await body.decode(SetDiscountRequest.self, from: request)
        guard let added = try await administration(caller).addDiscount(set, tenant: tenant) else { throw APIError.notFound("tenant") }
        return try Response.json(added, status: .created)
    }

    /// Closes a month of the tenant's: 201 with its new invoice, or 200 with the one made before.
    func closeInvoice(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        let tenant = try tenantScope(context, caller, needs: .tenantManage)
        try requireOperator(caller, "close a month's invoice")
        let close = try await body.decode(CloseInvoiceRequest.self, from: request)
        let closed = try await BillingClient(bus: bus).closeInvoice(period: close.period, tenant: tenant, correlationID: context.requestID)
        return try Response.json(closed.invoice, status: closed.created ? .created : .ok)
    }

    /// The manual payment provider, too: `{"status": "paid", "payment_reference": "…"}`.
    func setInvoiceStatus(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        let tenant = try tenantScope(context, caller, needs: .tenantManage)
        try requireOperator(caller, "change an invoice's status")
        guard let text = context.parameters.get("invoice"), let id = UUID(uuidString: text) else { throw APIError.notFound("invoice") }
        let set = try await body.decode(SetInvoiceStatusRequest.self, from: request)
        let call = InvoiceStatusCall(tenantID: tenant, invoiceID: id, status: set.status, paymentReference: set.paymentReference)
        return try Response.json(try await BillingClient(bus: bus).setInvoiceStatus(call, correlationID: context.requestID))
    }

    // MARK: The model catalog (the platform operator only)

    /// Every router replica reads its catalog file again and says how it went. A file that
    /// fails keeps the catalog in force on that replica and answers 422 naming the replica and
    /// the file's line and field.
    func reloadCatalog(_ request: Request, context: GatewayContext) async throws -> Response {
        try requireOperator(try context.requireCaller(), "reload the model catalog")
        let replies = try await bus.gather(Subject.service(.router, RouterVerb.reloadCatalog), payload: Data("{}".utf8), window: .seconds(1))
        let results = replies.compactMap { try? JSONCoding.decode(CatalogReloadResult.self, from: $0.payload) }.sorted { $0.instance < $1.instance }
        guard !results.isEmpty else {
            throw APIError(.serviceUnavailable, "No router answered; is one running?", code: "router_unavailable")
        }
        let failed = results.filter { $0.status != "reloaded" }
        guard failed.isEmpty else {
            let reasons = failed.map { "\($0.instance): \($0.error ?? "failed")" }.joined(separator: "; ")
            throw APIError(.unprocessable, "The catalog was not reloaded; the one in force is kept. \(reasons)", code: "catalog_invalid")
        }
        return try Response.json(ListOf(results))
    }

    // MARK: Dead letters (the platform operator only)

    func listDeadLetters(_ request: Request, context: GatewayContext) async throws -> Response {
        try requireOperator(try context.requireCaller(), "see dead letters")
        let limit = try Self.integer(request, "limit", default: 100, in: 1...1000)
        let letters = try await DeadLetterQueue(bus: bus).list(consumer: try Self.consumer(request), limit: limit)
        return try Response.json(ListOf(letters.map(DeadLetterInfo.init)))
    }

    func showDeadLetter(_ request: Request, context: GatewayContext) async throws -> Response {
        try requireOperator(try context.requireCaller(), "see dead letters")
        guard let letter = try await DeadLetterQueue(bus: bus).show(try sequence(context)) else { throw APIError.notFound("dead letter") }
        return try Response.json(DeadLetterInfo(letter))
    }

    /// Publishes the message again on its original subject, for the consumer that failed only.
    func replayDeadLetter(_ request: Request, context: GatewayContext) async throws -> Response {
        try requireOperator(try context.requireCaller(), "replay dead letters")
        let queue = DeadLetterQueue(bus: bus)
        let sequence = try sequence(context)
        guard let letter = try await queue.show(sequence), try await queue.replay(sequence) else { throw APIError.notFound("dead letter") }
        return try Response.json(DeadLetterInfo(letter))
    }

    func deleteDeadLetter(_ request: Request, context: GatewayContext) async throws -> Response {
        try requireOperator(try context.requireCaller(), "delete dead letters")
        guard try await DeadLetterQueue(bus: bus).delete(try sequence(context)) else { throw APIError.notFound("dead letter") }
        return Response(status: .noContent)
    }

    /// `?consumer=<name>` purges one consumer's dead letters; without it, all of them.
    func purgeDeadLetters(_ request: Request, context: GatewayContext) async throws -> Response {
        try requireOperator(try context.requireCaller(), "purge dead letters")
        try await DeadLetterQueue(bus: bus).purge(consumer: try Self.consumer(request))
        return Response(status: .noContent)
    }

    // MARK: Who may do what

    private func administration(_ caller: Caller) -> Administration {
        Administration(database: database, bus: bus, actor: caller.auditActor)
    }

    private func requireOperator(_ caller: Caller, _ action: String) throws(APIError) {
        guard caller.credential == .platformOperator else {
            throw APIError(.permission, "Only the platform operator may \(action).", code: "operator_only")
        }
    }

    /// The `:tenant` of the route, when the caller may act on it with `permission`. Another
    /// tenant, or an id that is not one, is a 404: its existence is not the caller's business.
    private func tenantScope(_ context: GatewayContext, _ caller: Caller, needs permission: Permission) throws(APIError) -> UUID {
        guard let text = context.parameters.get("tenant"), let tenant = UUID(uuidString: text) else { throw .notFound("tenant") }
        if caller.credential != .platformOperator {
            guard tenant == caller.tenantID else { throw .notFound("tenant") }
            try caller.require(permission)
        }
        return tenant
    }

    /// The `:key` of the route and its tenant: the caller's own for a tenant's key; looked up
    /// for the operator.
    private func keyScope(_ context: GatewayContext, _ caller: Caller, needs permission: Permission) async throws -> (UUID, UUID) {
        guard let text = context.parameters.get("key"), let key = UUID(uuidString: text) else { throw APIError.notFound("API key") }
        if let tenant = caller.tenantID {
            try caller.require(permission)
            return (key, tenant)
        }
        guard let tenant = try await administration(caller).tenant(ofKey: key) else { throw APIError.notFound("API key") }
        return (key, tenant)
    }

    /// Nobody hands out more than they hold: refuses a caller whose roles do not cover every
    /// permission of `roles`. The platform operator holds everything.
    private func requireHolds(_ caller: Caller, _ roles: [Role], _ action: String, param: String) throws(APIError) {
        guard caller.credential != .platformOperator else { return }
        let needed = roles.reduce(into: Set<Permission>()) { $0.formUnion($1.permissions) }
        guard needed.isSubset(of: caller.permissions) else {
            let held = caller.roles.map(\.rawValue).sorted().joined(separator: ", ")
            let named = roles.map(\.rawValue).sorted().joined(separator: ", ")
            throw APIError(.permission, "Your roles (\(held)) cannot \(action) role \(named).", code: "insufficient_permissions", param: param)
        }
    }

    /// The `:subject` of the route, percent-decoded: subjects may hold `|`, `@` or `/`.
    private func subject(_ context: GatewayContext) throws(APIError) -> String {
        guard let text = context.parameters.get("subject"), let subject = text.removingPercentEncoding, !subject.isEmpty else {
            throw .notFound("member")
        }
        return subject
    }

    /// The `:model` of the route, percent-decoded: model names may hold `/`.
    private func model(_ context: GatewayContext) throws(APIError) -> String {
        guard let text = context.parameters.get("model"), let model = text.removingPercentEncoding, !model.isEmpty else {
            throw .notFound("routing override")
        }
        return model
    }

    private func sequence(_ context: GatewayContext) throws(APIError) -> UInt64 {
        guard let text = context.parameters.get("sequence"), let sequence = UInt64(text) else { throw .notFound("dead letter") }
        return sequence
    }

    /// `?consumer=`: a durable consumer's name, which is one subject token.
    private static func consumer(_ request: Request) throws(APIError) -> String? {
        guard let consumer = request.uri.queryParameters.get("consumer") else { return nil }
        guard SubjectToken.isValid(consumer) else {
            throw APIError.invalid("consumer", "consumer must be a consumer's name: no spaces, dots or wildcards.")
        }
        return consumer
    }

    private static func integer(_ request: Request, _ name: String, default fallback: Int, in range: ClosedRange<Int>) throws(APIError) -> Int {
        guard let text = request.uri.queryParameters.get(name) else { return fallback }
        guard let value = Int(text), range.contains(value) else {
            throw APIError.invalid(name, "\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound).")
        }
        return value
    }
}

extension DeadLetterInfo {
    init(_ letter: DeadLetter) {
        self.init(
            sequence: letter.sequence, consumer: letter.consumer, originalSubject: letter.originalSubject,
            deliveries: letter.deliveries, error: letter.error, failedAt: letter.failedAt,
            headers: letter.message.headers, payload: String(decoding: letter.message.payload, as: UTF8.self))
    }
}
