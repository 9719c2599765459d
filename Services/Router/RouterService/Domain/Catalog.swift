import Contracts
import Foundation

/// What the router can serve: each model name tenants use, and the deployments that answer it.
public struct Catalog: Sendable, Equatable {
    public var models: [String: ModelEntry]

    public init(models: [String: ModelEntry]) {
        self.models = models
    }

    public func model(_ name: String) -> ModelEntry? { models[name] }
}

public struct ModelEntry: Sendable, Equatable {
    public var name: String
    public var strategy: RoutingStrategy
    /// In priority order.
    public var deployments: [Deployment]
    /// What a tenant's calls are charged, when the price book or the tenant's own prices set it;
    /// otherwise each deployment's catalog price.
    public var charge: Price? = nil
}

/// How the router picks among a model's deployments.
public enum RoutingStrategy: String, Sendable, Equatable, CaseIterable, Codable {
    /// The first deployment that can take the request; the next one when it fails.
    case priority
    /// The deployment where this call costs least (prompt plus the completion limit).
    case lowestCost = "lowest_cost"
    /// The deployment with the lowest moving-average latency; unmeasured ones are tried first.
    case lowestLatency = "lowest_latency"
    /// A random deployment by `weight` (canaries: 95 and 5).
    case weighted
    /// A multi-armed bandit (UCB1) rewarding success, latency and cost (`BanditReward`).
    case bandit
}

public enum Capability: String, Sendable, Equatable, Codable, CaseIterable {
    case chat, streaming, embeddings, tools
}

public enum ProviderKind: String, Sendable, Equatable, Codable, CaseIterable {
    /// The built-in deterministic offline model.
    case local
    /// OpenAI's chat completions API, as OpenAI, vLLM, Ollama, llama.cpp's server and TGI serve it.
    case openai
    /// Anthropic's Messages API.
    case anthropic
}

/// One place a model is served: a provider, its model id, and the price of a token there.
public struct Deployment: Sendable, Equatable {
    /// Unique in the catalog, e.g. `local/local-chat`; reported in usage events and replies.
    public var name: String
    public var provider: ProviderKind
    public var upstreamModel: String
    public var baseURL: String?
    /// The environment variable that holds the provider's key; never the key itself.
    public var credentialVariable: String?
    public var price: Price
    public var contextWindow: Int
    /// The most completion tokens the model produces in one answer, as its provider documents
    /// it; nil when only the context window bounds it.
    public var maxOutputTokens: Int? = nil
    public var capabilities: Set<Capability>
    /// Tokens per second of the local model's streams; 0 streams as fast as it can.
    public var tokensPerSecond: Int
    /// Share of the traffic under the `weighted` strategy.
    public var weight: Int

    public func supports(_ capability: Capability) -> Bool { capabilities.contains(capability) }

    /// The most completion tokens a call that sets no limit of its own can get here: the built-in
    /// model's longest reply; for Anthropic, the `max_tokens` it is sent (the Messages API
    /// requires one); otherwise `maxOutputTokens`, else the context window. What such a call is
    /// reserved at against a budget.
    public var completionTokensAtMost: Int {
        let most = switch provider {
        case .local: LocalModel.defaultReplyTokens
        case .anthropic: min(maxOutputTokens ?? Self.anthropicDefaultMaxTokens, Self.anthropicDefaultMaxTokens)
        case .openai: maxOutputTokens ?? contextWindow
        }
        return min(most, contextWindow)
    }

    /// Anthropic's `max_tokens` for a call that sets none (or the model's `maxOutputTokens`, if
    /// smaller). Not the model's own maximum: Anthropic refuses a whole (unstreamed) answer that
    /// may take longer than ten minutes, which a large `max_tokens` alone can mean.
    static let anthropicDefaultMaxTokens = 4096
}
