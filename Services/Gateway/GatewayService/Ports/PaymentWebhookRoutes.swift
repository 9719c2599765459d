import Contracts
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import SwitchyardRedis
import SwitchyardRuntime

/// `POST /webhooks/payments`: a payment provider tells Switchyard an invoice was paid. No API
/// key: the request is signed. `Switchyard-Signature: t=<unix seconds>,v1=<hex>`, where v1 is
/// HMAC-SHA256 over `<t>.<body>` with `SWITCHYARD_PAYMENT_WEBHOOK_SECRET`. A signature more than
/// five minutes from now is refused, so a captured request cannot be replayed later; an event id
/// seen in the last fifteen minutes is acknowledged and changes nothing.
struct PaymentWebhookRoutes: Sendable {
    let secret: Secret<String>?
    let billing: BillingClient
    let redis: RedisClient?
    let body: JSONBody

    static let header = "Switchyard-Signature"
    static let tolerance: TimeInterval = 300
    static let rememberedFor = 900

    /// What a provider sends; `type` other than `payment.succeeded` is acknowledged and ignored.
    struct Event: Decodable {
        var id: String
        var type: String
        var tenantID: UUID
        var invoiceID: UUID
        /// The provider's reference of the payment.
        var reference: String

        enum CodingKeys: String, CodingKey {
            case id, type
            case tenantID = "tenant_id"
            case invoiceID = "invoice_id"
            case reference
        }
    }

    struct Acknowledgement: Codable {
        var received = true
        /// False for a kind of event that changes nothing, or one seen before.
        var applied: Bool
    }

    func addRoutes(to router: Router<GatewayContext>) {
        router.post("webhooks/payments", use: receive)
    }

    func receive(_ request: Request, context: GatewayContext) async throws -> Response {
        let signature = request.headers[HTTPField.Name(Self.header)!]
        guard signature != nil else { throw Self.refusal("The \(Self.header) header is missing.") }
        guard let secret else { throw APIError.notFound("payment webhook") }
        let payload = try await body.bytes(of: request)
        try Self.verify(signature, payload: payload, secret: secret.value, now: Date())
        let event = try body.decode(Event.self, from: payload)
        guard !event.id.isEmpty, event.id.utf8.count <= 200 else { throw APIError.invalid("id", "id must be 1 to 200 bytes.") }
        guard event.type == "payment.succeeded" else { return try Response.json(Acknowledgement(applied: false)) }
        let key = "switchyard:webhook:payments:\(event.id)"
        if let redis, try await redis.command(["SET", key, "1", "NX", "EX", String(Self.rememberedFor)]) == .null {
            return try Response.json(Acknowledgement(applied: false))
        }
        do {
            let call = InvoiceStatusCall(tenantID: event.tenantID, invoiceID: event.invoiceID, status: .paid, paymentReference: event.reference)
            _ = try await billing.setInvoiceStatus(call, correlationID: context.requestID)
        } catch {
            // Not applied: the provider's retry must be able to apply it.
            if let redis { _ = try? await redis.command(["DEL", key]) }
            throw error
        }
        return try Response.json(Acknowledgement(applied: true))
    }

    /// Checks `t=…,v1=…` against the body, in constant time, within the tolerance.
    static func verify(_ header: String?, payload: Data, secret: String, now: Date) throws(APIError) {
        guard let header else { throw refusal("The \(Self.header) header is missing.") }
        var fields: [Substring: Substring] = [:]
        for part in header.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1)
            if pair.count == 2 { fields[pair[0].trimmingCharacters(in: .whitespaces)[...]] = pair[1] }
        }
        guard let stamp = fields["t"].flatMap({ Int64($0) }), let signature = fields["v1"].flatMap({ Data(hex: String($0)) }) else {
            throw refusal("The \(Self.header) header must be t=<unix seconds>,v1=<hex HMAC-SHA256>.")
        }
        guard abs(now.timeIntervalSince1970 - Double(stamp)) <= tolerance else {
            throw refusal("The signature's time is more than five minutes from now.")
        }
        let signed = Data("\(stamp).".utf8) + payload
        guard HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: signed, using: SymmetricKey(data: Data(secret.utf8))) else {
            throw refusal("The signature does not match the body.")
        }
    }

    private static func refusal(_ message: String) -> APIError {
        APIError(.authentication, message, code: "invalid_signature", status: .unauthorized)
    }
}

extension Data {
    /// Bytes from hexadecimal digits; nil when `hex` is not an even number of them.
    init?(hex: String) {
        guard hex.utf8.count.isMultiple(of: 2) else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(hex.utf8.count / 2)
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        self.init(bytes)
    }
}
