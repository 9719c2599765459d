import Foundation

/// Integer micro-USD per million tokens: 500_000 is $0.50 per million.
public struct Price: Codable, Sendable, Equatable, Hashable {
    public var inputMicrosPerMillion: Int64
    public var outputMicrosPerMillion: Int64

    public init(inputMicrosPerMillion: Int64, outputMicrosPerMillion: Int64) {
        self.inputMicrosPerMillion = inputMicrosPerMillion
        self.outputMicrosPerMillion = outputMicrosPerMillion
    }

    /// The cost of a call in micro-USD, rounded half up once for the whole call (not per side,
    /// so two small sides cannot each round away).
    public func costMicros(promptTokens: Int, completionTokens: Int) -> Int64 {
        (scaled(promptTokens, completionTokens) + 500_000) / 1_000_000
    }

    /// What to reserve against a budget before a call, rounded up: a reservation never falls
    /// short of the cost by rounding.
    public func reservedMicros(promptTokens: Int, completionTokens: Int) -> Int64 {
        (scaled(promptTokens, completionTokens) + 999_999) / 1_000_000
    }

    private func scaled(_ promptTokens: Int, _ completionTokens: Int) -> Int64 {
        Int64(promptTokens) * inputMicrosPerMillion + Int64(completionTokens) * outputMicrosPerMillion
    }

    enum CodingKeys: String, CodingKey {
        case inputMicrosPerMillion = "input_micros_per_million"
        case outputMicrosPerMillion = "output_micros_per_million"
    }
}

/// One version of a model's price in the price book (`tenantID` nil) or of a tenant's own
/// price. A tenant version without prices puts the book back in force for that tenant.
public struct PriceVersion: Codable, Sendable, Equatable {
    public var object = "price"
    public var model: String
    public var version: Int
    public var effectiveFrom: Date
    public var inputMicrosPerMillion: Int64?
    public var outputMicrosPerMillion: Int64?
    public var tenantID: UUID?

    public init(model: String, version: Int, effectiveFrom: Date, price: Price?, tenantID: UUID? = nil) {
        self.model = model
        self.version = version
        self.effectiveFrom = effectiveFrom
        inputMicrosPerMillion = price?.inputMicrosPerMillion
        outputMicrosPerMillion = price?.outputMicrosPerMillion
        self.tenantID = tenantID
    }

    public var price: Price? {
        guard let inputMicrosPerMillion, let outputMicrosPerMillion else { return nil }
        return Price(inputMicrosPerMillion: inputMicrosPerMillion, outputMicrosPerMillion: outputMicrosPerMillion)
    }

    enum CodingKeys: String, CodingKey {
        case object, model, version
        case effectiveFrom = "effective_from"
        case inputMicrosPerMillion = "input_micros_per_million"
        case outputMicrosPerMillion = "output_micros_per_million"
        case tenantID = "tenant_id"
    }
}

/// The body of `POST /admin/prices` and `POST /admin/tenants/{id}/prices`: a new version of a
/// model's price, in force from `effective_from` (not in the past). For a tenant, prices left
/// out put the book back in force.
public struct SetPriceRequest: Codable, Sendable, Equatable {
    public var model: String
    public var inputMicrosPerMillion: Int64?
    public var outputMicrosPerMillion: Int64?
    public var effectiveFrom: Date

    public init(model: String, inputMicrosPerMillion: Int64?, outputMicrosPerMillion: Int64?, effectiveFrom: Date) {
        self.model = model
        self.inputMicrosPerMillion = inputMicrosPerMillion
        self.outputMicrosPerMillion = outputMicrosPerMillion
        self.effectiveFrom = effectiveFrom
    }

    enum CodingKeys: String, CodingKey {
        case model
        case inputMicrosPerMillion = "input_micros_per_million"
        case outputMicrosPerMillion = "output_micros_per_million"
        case effectiveFrom = "effective_from"
    }
}

/// The prices a tenant's calls are charged at: its own versions, then the book's, then (when
/// neither has a version in force) the catalog's. The one place a call's price is chosen, by
/// the router for what it reports and by billing for the ledger.
public struct PriceSchedule: Sendable, Equatable {
    /// By model, each sorted by effective time.
    var book: [String: [PriceVersion]]
    var tenant: [String: [PriceVersion]]

    public init(book: [PriceVersion], tenant: [PriceVersion]) {
        func byModel(_ versions: [PriceVersion]) -> [String: [PriceVersion]] {
            Dictionary(grouping: versions, by: \.model).mapValues { $0.sorted { $0.effectiveFrom < $1.effectiveFrom } }
        }
        self.book = byModel(book)
        self.tenant = byModel(tenant)
    }

    public static let empty = PriceSchedule(book: [], tenant: [])

    /// The price of `model` in force at `time`, and what it came from (`tenant:<version>` or
    /// `book:<version>`); nil when only the catalog prices it.
    public func price(of model: String, at time: Date) -> (price: Price, pricedBy: String)? {
        func inForce(_ versions: [PriceVersion]?) -> PriceVersion? { versions?.last { $0.effectiveFrom <= time } }
        if let own = inForce(tenant[model]), let price = own.price { return (price, "tenant:\(own.version)") }
        if let listed = inForce(book[model]), let price = listed.price { return (price, "book:\(listed.version)") }
        return nil
    }

    public var isEmpty: Bool { book.isEmpty && tenant.isEmpty }
}

/// Routers and gateways read prices again when the book or a tenant's prices change. The
/// envelope's tenant is the one whose prices changed; a change of the book concerns every
/// tenant and is announced under `UUID.everyTenant`.
public struct PricesChanged: EventPayload {
    public static let eventType = EventType(domain: "prices", name: "changed")
    public static let version = 1
    public var price: PriceVersion

    public init(price: PriceVersion) { self.price = price }
}

/// One version of a tenant's discount on its invoices: `basis_points` 1000 is 10 %.
public struct DiscountVersion: Codable, Sendable, Equatable {
    public var object = "discount"
    public var version: Int
    public var effectiveFrom: Date
    public var basisPoints: Int

    public init(version: Int, effectiveFrom: Date, basisPoints: Int) {
        self.version = version
        self.effectiveFrom = effectiveFrom
        self.basisPoints = basisPoints
    }

    /// The discount on `subtotalMicros`, rounded half up.
    public func discountMicros(of subtotalMicros: Int64) -> Int64 {
        Int64((Int128(subtotalMicros) * Int128(basisPoints) + 5_000) / 10_000)
    }

    enum CodingKeys: String, CodingKey {
        case object, version
        case effectiveFrom = "effective_from"
        case basisPoints = "basis_points"
    }
}

/// The body of `POST /admin/tenants/{id}/discounts`: a month's invoice takes the version in force
/// when the month began.
public struct SetDiscountRequest: Codable, Sendable, Equatable {
    public var basisPoints: Int
    public var effectiveFrom: Date

    public init(basisPoints: Int, effectiveFrom: Date) {
        self.basisPoints = basisPoints
        self.effectiveFrom = effectiveFrom
    }

    enum CodingKeys: String, CodingKey {
        case basisPoints = "basis_points"
        case effectiveFrom = "effective_from"
    }
}
