import Foundation

/// What the router has seen of a deployment, for the strategies that learn.
public struct DeploymentStats: Sendable, Equatable {
    /// Exponential moving average of call latency (α = 0.2); nil until the first call.
    public var latencyMs: Double?
    /// Calls counted by the bandit, and the sum of their rewards (each from 0 to 1).
    public var pulls = 0
    public var rewardSum = 0.0

    public init() {}

    /// A call that failed before it was answered: a pull with no reward.
    public mutating func recordFailure() {
        pulls += 1
    }

    public mutating func record(latencyMs observed: Double, reward: Double) {
        latencyMs = latencyMs.map { 0.8 * $0 + 0.2 * observed } ?? observed
        pulls += 1
        rewardSum += reward
    }
}

/// The bandit's reward for one call, from 0 to 1:
/// `0.6 × success + 0.25 × 1/(1 + latency/1 s) + 0.15 × 1/(1 + cost/1000 µ$)`.
/// Success dominates; among deployments that succeed alike, faster and cheaper ones win.
public enum BanditReward {
    public static let successWeight = 0.6
    public static let latencyWeight = 0.25
    public static let costWeight = 0.15

    public static func of(success: Bool, latencyMs: Double, costMicros: Int64) -> Double {
        successWeight * (success ? 1 : 0)
            + latencyWeight / (1 + max(0, latencyMs) / 1000)
            + costWeight / (1 + Double(max(0, costMicros)) / 1000)
    }
}

/// Orders a model's candidate deployments for one call: the first is tried first, the rest are
/// the fallbacks, in catalog (priority) order.
public struct DeploymentSelection: Sendable {
    public init() {}

    public func order<Random: RandomNumberGenerator>(
        _ candidates: [Deployment], strategy: RoutingStrategy, promptTokens: Int, completionTokens: Int,
        stats: [String: DeploymentStats], random: inout Random
    ) -> [Deployment] {
        guard candidates.count > 1 else { return candidates }
        let first: Deployment
        switch strategy {
        case .priority:
            return candidates
        case .lowestCost:
            // The price of this call at each deployment; ties keep catalog order (min is stable).
            first = candidates.min { cost(of: $0, promptTokens, completionTokens) < cost(of: $1, promptTokens, completionTokens) }!
        case .lowestLatency:
            // A deployment not yet measured goes first, so every one gets measured.
            first = candidates.first { stats[$0.name]?.latencyMs == nil }
                ?? candidates.min { stats[$0.name]!.latencyMs! < stats[$1.name]!.latencyMs! }!
        case .weighted:
            let total = candidates.reduce(0) { $0 + $1.weight }
            guard total > 0 else { return candidates }
            var ticket = Int.random(in: 0..<total, using: &random)
            first = candidates.first { deployment in
                defer { ticket -= deployment.weight }
                return ticket < deployment.weight
            }!
        case .bandit:
            first = ucb1(candidates, stats: stats)
        }
        return [first] + candidates.filter { $0.name != first.name }
    }

    /// UCB1: the best mean reward plus an exploration bonus that shrinks as an arm is tried.
    func ucb1(_ candidates: [Deployment], stats: [String: DeploymentStats]) -> Deployment {
        if let untried = candidates.first(where: { (stats[$0.name]?.pulls ?? 0) == 0 }) { return untried }
        let total = Double(candidates.reduce(0) { $0 + stats[$1.name]!.pulls })
        func score(_ deployment: Deployment) -> Double {
            let arm = stats[deployment.name]!
            return arm.rewardSum / Double(arm.pulls) + (2 * log(total) / Double(arm.pulls)).squareRoot()
        }
        return candidates.max { score($0) < score($1) }!
    }

    private func cost(of deployment: Deployment, _ promptTokens: Int, _ completionTokens: Int) -> Int64 {
        deployment.price.costMicros(promptTokens: promptTokens, completionTokens: completionTokens)
    }
}
