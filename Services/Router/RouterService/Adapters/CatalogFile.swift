import Contracts
import Foundation
import SwitchyardRuntime
import Yams

/// A catalog that cannot be used, naming the file, line and field.
public struct CatalogError: ConfigurationProblem, Equatable {
    public var file: String
    public var line: Int?
    /// e.g. `models.local-chat.deployments[0].price`
    public var field: String
    public var reason: String

    public init(file: String, line: Int?, field: String, reason: String) {
        self.file = file
        self.line = line
        self.field = field
        self.reason = reason
    }

    public var description: String {
        "\(file)\(line.map { ":\($0)" } ?? ""): \(field.isEmpty ? "" : "\(field): ")\(reason)"
    }
}

/// Reads the catalog from YAML (see `catalog.example.yaml`) and checks it whole before any of it
/// is used.
public enum CatalogFile {
    public static func load(path: String) throws(CatalogError) -> Catalog {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw CatalogError(file: path, line: nil, field: "", reason: "cannot read the file")
        }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws(CatalogError) -> Catalog {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw CatalogError(file: file, line: nil, field: "", reason: "the file is empty")
            }
            root = node
        } catch let error as CatalogError {
            throw error
        } catch let error as YamlError {
            throw CatalogError(file: file, line: error.line, field: "", reason: "not valid YAML: \(error)")
        } catch {
            throw CatalogError(file: file, line: nil, field: "", reason: "not valid YAML: \(error)")
        }
        let document: Document
        do {
            document = try YAMLDecoder().decode(Document.self, from: root)
        } catch let error as DecodingError {
            let (path, reason) = error.fieldAndReason
            throw CatalogError(file: file, line: root.line(at: path), field: path.fieldName, reason: reason)
        } catch {
            throw CatalogError(file: file, line: nil, field: "", reason: "\(error)")
        }
        return try document.catalog(file: file, root: root)
    }

    struct Document: Decodable {
        var models: [String: Model]
    }

    struct Model: Decodable {
        var strategy: RoutingStrategy?
        var deployments: [DeploymentEntry]
    }

    struct DeploymentEntry: Decodable {
        var name: String
        var provider: ProviderKind
        var upstreamModel: String
        var baseURL: String?
        var credentialVariable: String?
        var price: PriceEntry
        var contextWindow: Int
        var maxOutputTokens: Int?
        var capabilities: [Capability]
        var tokensPerSecond: Int?
        var weight: Int?

        enum CodingKeys: String, CodingKey {
            case name, provider
            case upstreamModel = "upstream_model"
            case baseURL = "base_url"
            case credentialVariable = "credential_env"
            case price
            case contextWindow = "context_window"
            case maxOutputTokens = "max_output_tokens"
            case capabilities
            case tokensPerSecond = "tokens_per_second"
            case weight
        }
    }

    struct PriceEntry: Decodable {
        var inputMicrosPerMillion: Int64
        var outputMicrosPerMillion: Int64

        enum CodingKeys: String, CodingKey {
            case inputMicrosPerMillion = "input_micros_per_million"
            case outputMicrosPerMillion = "output_micros_per_million"
        }
    }
}

extension CatalogFile.Document {
    /// Checks what decoding cannot: names, limits and that each model can serve something.
    func catalog(file: String, root: Node) throws(CatalogError) -> Catalog {
        func fail(_ path: [FieldPathComponent], _ reason: String) -> CatalogError {
            CatalogError(file: file, line: root.line(at: path), field: path.fieldName, reason: reason)
        }
        guard !models.isEmpty else { throw fail([.key("models")], "names no model") }
        var seen: [String: String] = [:]
        var entries: [String: ModelEntry] = [:]
        for (name, model) in models.sorted(by: { $0.key < $1.key }) {
            let modelPath: [FieldPathComponent] = [.key("models"), .key(name)]
            guard !name.isEmpty, !name.contains(where: \.isWhitespace) else { throw fail(modelPath, "a model name has no spaces") }
            guard !model.deployments.isEmpty else { throw fail(modelPath + [.key("deployments")], "names no deployment") }
            var deployments: [Deployment] = []
            for (index, entry) in model.deployments.enumerated() {
                let path = modelPath + [.key("deployments"), .index(index)]
                if let other = seen[entry.name] {
                    throw fail(path + [.key("name")], "deployment \(entry.name) is also defined under \(other)")
                }
                seen[entry.name] = name
                guard entry.price.inputMicrosPerMillion >= 0 else { throw fail(path + [.key("price"), .key("input_micros_per_million")], "must not be negative") }
                guard entry.price.outputMicrosPerMillion >= 0 else { throw fail(path + [.key("price"), .key("output_micros_per_million")], "must not be negative") }
                guard entry.contextWindow > 0 else { throw fail(path + [.key("context_window")], "must be positive") }
                if let most = entry.maxOutputTokens, !(1...entry.contextWindow).contains(most) {
                    throw fail(path + [.key("max_output_tokens")], "must be from 1 to the context window (\(entry.contextWindow))")
                }
                guard !entry.capabilities.isEmpty else { throw fail(path + [.key("capabilities")], "names no capability") }
                guard (entry.tokensPerSecond ?? 0) >= 0 else { throw fail(path + [.key("tokens_per_second")], "must not be negative") }
                guard (entry.weight ?? 1) >= 0 else { throw fail(path + [.key("weight")], "must not be negative") }
                if let baseURL = entry.baseURL, URL(string: baseURL)?.host == nil {
                    throw fail(path + [.key("base_url")], "is not an http(s) URL")
                }
                // The local model calls no tools.
                if entry.provider == .local, entry.capabilities.contains(.tools) {
                    throw fail(path + [.key("capabilities")], "the local provider calls no tools")
                }
                if entry.provider != .local {
                    guard entry.baseURL != nil else { throw fail(path + [.key("base_url")], "is required for provider \(entry.provider.rawValue)") }
                    // Anthropic's Messages API makes no embeddings.
                    guard entry.provider != .anthropic || !entry.capabilities.contains(.embeddings) else {
                        throw fail(path + [.key("capabilities")], "the anthropic provider makes no embeddings")
                    }
                }
                deployments.append(Deployment(
                    name: entry.name, provider: entry.provider, upstreamModel: entry.upstreamModel, baseURL: entry.baseURL,
                    credentialVariable: entry.credentialVariable,
                    price: Price(inputMicrosPerMillion: entry.price.inputMicrosPerMillion, outputMicrosPerMillion: entry.price.outputMicrosPerMillion),
                    contextWindow: entry.contextWindow, maxOutputTokens: entry.maxOutputTokens, capabilities: Set(entry.capabilities), tokensPerSecond: entry.tokensPerSecond ?? 0,
                    weight: entry.weight ?? 1))
            }
            let strategy = model.strategy ?? .priority
            if strategy == .weighted, deployments.allSatisfy({ $0.weight == 0 }) {
                throw fail(modelPath + [.key("deployments")], "the weighted strategy needs a deployment with a weight above 0")
            }
            entries[name] = ModelEntry(name: name, strategy: strategy, deployments: deployments)
        }
        return Catalog(models: entries)
    }
}

enum FieldPathComponent: Equatable {
    case key(String)
    case index(Int)
}

extension Array where Element == FieldPathComponent {
    /// `models.local-chat.deployments[0].price`
    var fieldName: String {
        reduce(into: "") { name, component in
            switch component {
            case .key(let key): name += name.isEmpty ? key : ".\(key)"
            case .index(let index): name += "[\(index)]"
            }
        }
    }
}

extension Node {
    /// The line of the deepest node along `path` that exists: the field itself, or the mapping
    /// that lacks it.
    func line(at path: [FieldPathComponent]) -> Int? {
        var node = self
        for component in path {
            let next: Node? = switch (component, node) {
            case (.key(let key), .mapping(let mapping)): mapping[key]
            case (.index(let index), .sequence(let sequence)) where index < sequence.count: sequence[index]
            default: nil
            }
            guard let next else { break }
            node = next
        }
        return node.mark?.line
    }
}

extension DecodingError {
    var fieldAndReason: ([FieldPathComponent], String) {
        func path(_ codingPath: [any CodingKey]) -> [FieldPathComponent] {
            codingPath.map { key in key.intValue.map { .index($0) } ?? .key(key.stringValue) }
        }
        switch self {
        case .keyNotFound(let key, let context):
            return (path(context.codingPath + [key]), "is required")
        case .typeMismatch(let type, let context):
            return (path(context.codingPath), "expected \(Self.describe(type))")
        case .valueNotFound(let type, let context):
            return (path(context.codingPath), "expected \(Self.describe(type)), found nothing")
        case .dataCorrupted(let context):
            return (path(context.codingPath), context.debugDescription)
        @unknown default:
            return ([], "\(self)")
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type, is Int64.Type: "a whole number"
        case is String.Type: "text"
        case is Bool.Type: "true or false"
        default: "\(type)"
        }
    }
}

extension YamlError {
    var line: Int? {
        switch self {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _): mark.line
        default: nil
        }
    }
}
