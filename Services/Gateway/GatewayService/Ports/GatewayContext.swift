import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// The request context of every public route: the request's id from the first middleware, and
/// the caller once a credential has been checked.
public struct GatewayContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The `x-request-id` of this request, unique to it.
    public var requestID: String
    public var caller: Caller?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        requestID = RequestIDs.generate()
        caller = nil
    }

    /// Bodies are read by `JSONBody`, which applies the configured cap itself.
    public var maxUploadSize: Int { Int.max }

    /// The caller, which authenticated routes always have.
    func requireCaller() throws(APIError) -> Caller {
        guard let caller else { throw .missingCredential }
        return caller
    }
}

enum RequestIDs {
    /// `req_` and 32 hex digits, as OpenAI's ids look.
    static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let high = generator.next() as UInt64, low = generator.next() as UInt64
        return "req_" + hex(high) + hex(low)
    }

    /// Where a caller sends an id of its own (OpenAI's name); a caller's `x-request-id` is taken
    /// as one too.
    static let clientHeader = HTTPField.Name("x-client-request-id")!

    /// A caller's id is kept when it is short and plain, so it can be logged and echoed safely.
    static func accepts(_ id: String) -> Bool {
        (1...128).contains(id.utf8.count) && id.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
        }
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
