import Foundation
import Metrics
import Synchronization

/// The circuit breakers of every deployment of this router, and the per-deployment metrics.
/// Each replica keeps its own: a replica that sees a deployment fail stops sending it traffic
/// without waiting for the others.
final class DeploymentHealth: Sendable {
    private let breakers = Mutex<[String: CircuitBreaker]>([:])
    private let stats = Mutex<[String: DeploymentStats]>([:])
    private let selection = DeploymentSelection()
    let policy: CircuitBreaker.Policy

    init(policy: CircuitBreaker.Policy = .init()) {
        self.policy = policy
    }

    func allowsCall(to deployment: String) -> Bool {
        update(deployment) { $0.allowsCall(at: .now) }
    }

    func recordSuccess(_ deployment: String) {
        update(deployment) { $0.recordSuccess() }
    }

    /// Counts a failure that says something about the deployment's health (connection,
    /// timeout, 5xx). A 429 with `Retry-After` pauses the deployment for that long instead.
    func recordFailure(_ deployment: String, _ error: ProviderError) {
        Counter(label: "switchyard_router_deployment_errors_total", dimensions: [("deployment", deployment), ("class", error.metricClass)]).increment()
        stats.withLock { $0[deployment, default: DeploymentStats()].recordFailure() }
        update(deployment) { breaker in
            if case .status(429) = error.kind {
                if let seconds = error.retryAfterSeconds { breaker.coolDown(until: .now + .seconds(seconds)) }
            } else if error.isRetryable {
                breaker.recordFailure(at: .now)
            }
        }
    }

    func recordAbandoned(_ deployment: String) {
        update(deployment) { $0.recordAbandoned() }
    }

    /// The candidates in the order the model's strategy picks, from what was seen so far.
    func order(_ candidates: [Deployment], strategy: RoutingStrategy, promptTokens: Int, completionTokens: Int) -> [Deployment] {
        let seen = stats.withLock { $0 }
        var random = SystemRandomNumberGenerator()
        return selection.order(
            candidates, strategy: strategy, promptTokens: promptTokens, completionTokens: completionTokens, stats: seen, random: &random)
    }

    /// Requests, latency, time to first token and tokens of one finished call; its latency and
    /// reward for the strategies that learn.
    func recordCall(_ record: CallRecord) {
        let deployment = record.deployment.name
        let latencyMs = Double(record.started.duration(to: .now).milliseconds)
        let reward = BanditReward.of(
            success: record.status == .succeeded, latencyMs: latencyMs,
            costMicros: record.deployment.price.costMicros(promptTokens: record.promptTokens, completionTokens: record.completionTokens))
        stats.withLock { $0[deployment, default: DeploymentStats()].record(latencyMs: latencyMs, reward: reward) }
        Counter(label: "switchyard_router_deployment_requests_total", dimensions: [("deployment", deployment), ("status", record.status.rawValue)]).increment()
        Timer(label: "switchyard_router_deployment_latency_seconds", dimensions: [("deployment", deployment)])
            .record(duration: record.started.duration(to: .now))
        if let firstToken = record.firstToken {
            Timer(label: "switchyard_router_deployment_ttft_seconds", dimensions: [("deployment", deployment)])
                .record(duration: record.started.duration(to: firstToken))
        }
        Counter(label: "switchyard_router_deployment_tokens_total", dimensions: [("deployment", deployment), ("kind", "prompt")])
            .increment(by: record.promptTokens)
        Counter(label: "switchyard_router_deployment_tokens_total", dimensions: [("deployment", deployment), ("kind", "completion")])
            .increment(by: record.completionTokens)
    }

    private func update<T>(_ deployment: String, _ body: (inout CircuitBreaker) -> T) -> T {
        let (result, state) = breakers.withLock { breakers in
            var breaker = breakers[deployment] ?? CircuitBreaker(policy: policy)
            let result = body(&breaker)
            breakers[deployment] = breaker
            return (result, breaker.state)
        }
        // 0 closed, 1 half-open, 2 open: what an alert on "breaker open" watches.
        let value: Int = switch state {
        case .closed: 0
        case .halfOpen: 1
        case .open: 2
        }
        Gauge(label: "switchyard_router_breaker_state", dimensions: [("deployment", deployment)]).record(value)
        return result
    }
}

extension ProviderError {
    var metricClass: String {
        switch kind {
        case .connection: "connection"
        case .timeout: "timeout"
        case .status(429): "rate_limited"
        case .status(let code) where code >= 500: "server_error"
        case .status: "client_error"
        case .invalidResponse: "invalid_response"
        }
    }
}
