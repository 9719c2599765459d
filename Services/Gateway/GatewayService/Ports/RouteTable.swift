import HTTPTypes
import Synchronization

/// The gateway's routes by path pattern, to tell a path that exists under other methods (405
/// with `Allow`) from one that does not exist at all (404).
final class RouteTable: Sendable {
    private struct Route {
        var method: HTTPRequest.Method
        /// Path components; `{name}` matches any one non-empty component.
        var components: [Substring]
    }

    private let routes = Mutex<[Route]>([])

    /// `(method, "/v1/models/{model}")` pairs, as Hummingbird's router lists them.
    func load(_ described: [(HTTPRequest.Method, String)]) {
        routes.withLock { routes in
            routes = described.map { Route(method: $0.0, components: $0.1.split(separator: "/")) }
        }
    }

    /// The methods `path` answers to, sorted; empty when no route has this path.
    func methods(for path: String) -> [String] {
        let components = path.split(separator: "/")
        let methods = routes.withLock { routes in
            routes.filter { route in
                route.components.count == components.count
                    && zip(route.components, components).allSatisfy { pattern, component in
                        (pattern.hasPrefix("{") && pattern.hasSuffix("}")) || pattern == component
                    }
            }.map(\.method.rawValue)
        }
        return Set(methods).sorted()
    }
}
