import Foundation
import Hummingbird
import Yams

/// The OpenAPI 3.1 document of the gateway, kept as YAML beside the code
/// (`Resources/openapi.yaml`) and served as JSON at `/openapi.json`.
public enum OpenAPIDocument {
    public struct Unreadable: Error, CustomStringConvertible {
        public var description: String
    }

    /// The document as JSON, read and converted once.
    public static func json() throws -> Data {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml") else {
            throw Unreadable(description: "openapi.yaml is missing from the gateway's resources")
        }
        let yaml = try String(contentsOf: url, encoding: .utf8)
        guard let document = try Yams.load(yaml: yaml) else { throw Unreadable(description: "openapi.yaml is empty") }
        return try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes])
    }

    /// Every `(method, path)` the document describes, e.g. `("GET", "/v1/models/{model}")`.
    public static func operations() throws -> Set<String> {
        guard let document = try JSONSerialization.jsonObject(with: json()) as? [String: Any],
              let paths = document["paths"] as? [String: [String: Any]] else {
            throw Unreadable(description: "openapi.yaml has no paths")
        }
        return Set(paths.flatMap { path, operations in operations.keys.map { "\($0.uppercased()) \(path)" } })
    }
}
