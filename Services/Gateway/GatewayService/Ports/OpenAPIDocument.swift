import Foundation
import Hummingbird
import Synchronization
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

    /// The JSON served at `/openapi.json`, converted on the first request for it rather than
    /// at start: the conversion (Yams's resolver compiles regular expressions on ICU, then
    /// Foundation writes the JSON) leaves megabytes resident that an idle gateway has no use for.
    /// The suite converts the document, so a YAML that does not convert is not shipped.
    final class Served: Sendable {
        private let converted = Mutex<ByteBuffer?>(nil)

        init() {}

        func json() throws -> ByteBuffer {
            try converted.withLock { converted in
                if let converted { return converted }
                let json = ByteBuffer(bytes: try OpenAPIDocument.json())
                converted = json
                return json
            }
        }
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
