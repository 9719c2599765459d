import Contracts
import Foundation
import PostgresNIO

/// The price book (`price_book`, every tenant's) and a tenant's own prices (`tenant_prices`):
/// versions are only added.
public enum PriceRepository {
    /// Adds the next version of `model`'s price in the book.
    public static func addToBook(model: String, price: Price, effectiveFrom: Date, on client: PostgresClient) async throws -> PriceVersion {
        let rows = try await client.query("""
            INSERT INTO price_book (model, version, effective_from, input_micros_per_million, output_micros_per_million)
            SELECT \(model), COALESCE(max(version), 0) + 1, \(effectiveFrom), \(price.inputMicrosPerMillion), \(price.outputMicrosPerMillion)
            FROM price_book WHERE model = \(model)
            RETURNING version
            """)
        for try await version in rows.decode(Int32.self) {
            return PriceVersion(model: model, version: Int(version), effectiveFrom: effectiveFrom, price: price)
        }
        throw PostgresMissingRow(statement: "INSERT INTO price_book")
    }

    /// The book's versions, of one model or of all, by model and time.
    public static func book(model: String? = nil, on client: PostgresClient) async throws -> [PriceVersion] {
        try await versions(client.query("""
            SELECT model, version, effective_from, input_micros_per_million, output_micros_per_million, NULL::uuid FROM price_book
            WHERE \(model)::text IS NULL OR model = \(model) ORDER BY model, effective_from
            """))
    }

    /// Adds the next version of the transaction's tenant's own price of `model`; a nil price
    /// puts the book back in force from `effectiveFrom`.
    public static func addForTenant(model: String, price: Price?, effectiveFrom: Date, in tx: TenantTransaction) async throws -> PriceVersion {
        let rows = try await tx.query("""
            INSERT INTO tenant_prices (tenant_id, model, version, effective_from, input_micros_per_million, output_micros_per_million)
            SELECT \(tx.tenantID), \(model), COALESCE(max(version), 0) + 1, \(effectiveFrom), \(price?.inputMicrosPerMillion),
                   \(price?.outputMicrosPerMillion)
            FROM tenant_prices WHERE model = \(model)
            RETURNING version
            """)
        for try await version in rows.decode(Int32.self) {
            return PriceVersion(model: model, version: Int(version), effectiveFrom: effectiveFrom, price: price, tenantID: tx.tenantID)
        }
        throw PostgresMissingRow(statement: "INSERT INTO tenant_prices")
    }

    /// The transaction's tenant's own versions, of one model or of all, by model and time.
    public static func tenant(model: String? = nil, in tx: TenantTransaction) async throws -> [PriceVersion] {
        try await versions(tx.query("""
            SELECT model, version, effective_from, input_micros_per_million, output_micros_per_million, tenant_id FROM tenant_prices
            WHERE \(model)::text IS NULL OR model = \(model) ORDER BY model, effective_from
            """))
    }

    /// The schedule the tenant's calls are priced by: its versions and the book's.
    public static func schedule(model: String? = nil, in tx: TenantTransaction) async throws -> PriceSchedule {
        PriceSchedule(
            book: try await versions(tx.query("""
                SELECT model, version, effective_from, input_micros_per_million, output_micros_per_million, NULL::uuid FROM price_book
                WHERE \(model)::text IS NULL OR model = \(model)
                """)),
            tenant: try await tenant(model: model, in: tx))
    }

    private static func versions(_ rows: PostgresRowSequence) async throws -> [PriceVersion] {
        var versions: [PriceVersion] = []
        for try await (model, version, effectiveFrom, input, output, tenant) in rows.decode((String, Int32, Date, Int64?, Int64?, UUID?).self) {
            let price = input.flatMap { input in output.map { Price(inputMicrosPerMillion: input, outputMicrosPerMillion: $0) } }
            versions.append(PriceVersion(model: model, version: Int(version), effectiveFrom: effectiveFrom, price: price, tenantID: tenant))
        }
        return versions
    }
}

/// The transaction's tenant's discounts on its invoices (`tenant_discounts`), in versions.
public enum DiscountRepository {
    public static func add(basisPoints: Int, effectiveFrom: Date, in tx: TenantTransaction) async throws -> DiscountVersion {
        let rows = try await tx.query("""
            INSERT INTO tenant_discounts (tenant_id, version, effective_from, basis_points)
            SELECT \(tx.tenantID), COALESCE(max(version), 0) + 1, \(effectiveFrom), \(Int32(basisPoints)) FROM tenant_discounts
            RETURNING version
            """)
        for try await version in rows.decode(Int32.self) {
            return DiscountVersion(version: Int(version), effectiveFrom: effectiveFrom, basisPoints: basisPoints)
        }
        throw PostgresMissingRow(statement: "INSERT INTO tenant_discounts")
    }

    public static func list(in tx: TenantTransaction) async throws -> [DiscountVersion] {
        try await versions(tx.query("SELECT version, effective_from, basis_points FROM tenant_discounts ORDER BY effective_from"))
    }

    /// The version in force at `time`; nil when none is.
    public static func inForce(at time: Date, in tx: TenantTransaction) async throws -> DiscountVersion? {
        try await versions(tx.query("""
            SELECT version, effective_from, basis_points FROM tenant_discounts WHERE effective_from <= \(time)
            ORDER BY effective_from DESC LIMIT 1
            """)).first
    }

    private static func versions(_ rows: PostgresRowSequence) async throws -> [DiscountVersion] {
        var versions: [DiscountVersion] = []
        for try await (version, effectiveFrom, basisPoints) in rows.decode((Int32, Date, Int32).self) {
            versions.append(DiscountVersion(version: Int(version), effectiveFrom: effectiveFrom, basisPoints: Int(basisPoints)))
        }
        return versions
    }
}
