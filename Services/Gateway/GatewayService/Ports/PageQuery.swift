import Foundation
import Hummingbird

/// The query parameters of a list: how many (`limit`, 1 to 100, 20 by default) and ids that
/// narrow or page it, each refused with a 400 naming it when it is not what it should be.
struct PageQuery {
    let request: Request

    var limit: Int {
        get throws(APIError) {
            guard let text = request.uri.queryParameters.get("limit") else { return 20 }
            guard let value = Int(text), (1...100).contains(value) else { throw APIError.invalid("limit", "limit must be an integer from 1 to 100.") }
            return value
        }
    }

    /// The id `name` gives, of a `what`.
    func id(_ name: String, of what: String) throws(APIError) -> UUID? {
        guard let text = request.uri.queryParameters.get(name) else { return nil }
        guard let id = UUID(uuidString: text) else { throw APIError.invalid(name, "\(name) must be a \(what)'s id.") }
        return id
    }
}
