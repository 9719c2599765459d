import Contracts
import Foundation
import PostgresNIO
import SwitchyardBus
import SwitchyardDatabase

/// The price book and tenants' own prices: each change is a new version in force from a time
/// not in the past, stored (a tenant's with its audit entry), then announced (`prices.changed`)
/// so routers and gateways price the next calls by it.
extension Administration {
    /// Prices more than this per million tokens are refused as a mistake: $1,000,000.
    static let highestPrice: Int64 = 1_000_000_000_000

    /// Adds a version to the book.
    public func addBookPrice(_ request: SetPriceRequest, now: Date = Date()) async throws -> PriceVersion {
        guard request.inputMicrosPerMillion != nil || request.outputMicrosPerMillion != nil else {
            throw AdministrationError(field: "input_micros_per_million", message: "The book needs both prices: input_micros_per_million and output_micros_per_million.")
        }
        let (model, checkedPrice) = try Self.checked(request, now: now)
        let price = checkedPrice!
        let added = try await Self.unique { try await PriceRepository.addToBook(model: model, price: price, effectiveFrom: request.effectiveFrom, on: database.client) }
        try await bus.publish(Envelope(tenantID: .everyTenant, payload: PricesChanged(price: added)))
        return added
    }

    public func bookPrices(model: String? = nil) async throws -> [PriceVersion] {
        try await PriceRepository.book(model: model, on: database.client)
    }

    /// Adds a version of the tenant's own price; without prices it puts the book back in force.
    /// Nil when there is no such tenant.
    public func addTenantPrice(_ request: SetPriceRequest, tenant: UUID, now: Date = Date()) async throws -> PriceVersion? {
        let (model, price) = try Self.checked(request, now: now)
        let added = try await Self.unique {
            try await database.withTenant(tenant) { tx -> PriceVersion? in
                guard try await TenantRepository.find(in: tx) != nil else { return nil }
                let added = try await PriceRepository.addForTenant(model: model, price: price, effectiveFrom: request.effectiveFrom, in: tx)
                try await AuditLog.append(
                    actor: actor, action: "price.set", target: model,
                    detailsJSON: String(decoding: try JSONCoding.encode(added), as: UTF8.self), in: tx)
                return added
            }
        }
        guard let added else { return nil }
        try await bus.publish(Envelope(tenantID: tenant, payload: PricesChanged(price: added)))
        return added
    }

    public func tenantPrices(tenant: UUID) async throws -> [PriceVersion] {
        try await database.withTenant(tenant) { try await PriceRepository.tenant(in: $0) }
    }

    /// Adds a version of the tenant's discount on its invoices; nil when there is no such tenant.
    /// It may take effect in the past: an invoice already made keeps its discount.
    public func addDiscount(_ request: SetDiscountRequest, tenant: UUID) async throws -> DiscountVersion? {
        guard (0...10_000).contains(request.basisPoints) else {
            throw AdministrationError(field: "basis_points", message: "basis_points must be a whole number from 0 to 10000 (10000 is 100 %).")
        }
        return try await Self.unique {
            try await database.withTenant(tenant) { tx -> DiscountVersion? in
                guard try await TenantRepository.find(in: tx) != nil else { return nil }
                let added = try await DiscountRepository.add(basisPoints: request.basisPoints, effectiveFrom: request.effectiveFrom, in: tx)
                try await AuditLog.append(
                    actor: actor, action: "discount.set", target: Subject.token(tenant),
                    detailsJSON: String(decoding: try JSONCoding.encode(added), as: UTF8.self), in: tx)
                return added
            }
        }
    }

    public func discounts(tenant: UUID) async throws -> [DiscountVersion] {
        try await database.withTenant(tenant) { try await DiscountRepository.list(in: $0) }
    }

    /// The model and the price, when the request can be a version: a model name, both prices or
    /// neither, none negative or absurd, a time not in the past (a call already made keeps the
    /// price it was made at).
    static func checked(_ request: SetPriceRequest, now: Date) throws(AdministrationError) -> (String, Price?) {
        guard isText(request.model, length: 1...200), request.model.trimmingCharacters(in: .whitespaces) == request.model else {
            throw AdministrationError(field: "model", message: "model must be a model's name: 1 to 200 characters, no control characters.")
        }
        for (field, value) in [("input_micros_per_million", request.inputMicrosPerMillion), ("output_micros_per_million", request.outputMicrosPerMillion)] {
            if let value, !(0...highestPrice).contains(value) {
                throw AdministrationError(field: field, message: "\(field) must be a whole number of micro-USD from 0 to \(highestPrice).")
            }
        }
        guard (request.inputMicrosPerMillion == nil) == (request.outputMicrosPerMillion == nil) else {
            let missing = request.inputMicrosPerMillion == nil ? "input_micros_per_million" : "output_micros_per_million"
            throw AdministrationError(field: missing, message: "Give both prices, or neither to put the book back in force.")
        }
        // A second of leeway for the caller's clock and the trip here.
        guard request.effectiveFrom >= now.addingTimeInterval(-1) else {
            throw AdministrationError(field: "effective_from", message: "effective_from must not be in the past: calls already made keep their price.")
        }
        let price = request.inputMicrosPerMillion.map { Price(inputMicrosPerMillion: $0, outputMicrosPerMillion: request.outputMicrosPerMillion!) }
        return (request.model, price)
    }

    /// Runs `insert`; a version that takes effect at the same time as another of the model, or
    /// one added at the same moment, is refused naming `effective_from`.
    private static func unique<T>(_ insert: () async throws -> T) async throws -> T {
        do {
            return try await insert()
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            throw AdministrationError(field: "effective_from", message: "Another version of this price takes effect then, or was added at the same moment; retry with another time.")
        }
    }
}
