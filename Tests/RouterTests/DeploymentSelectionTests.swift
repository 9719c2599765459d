import Foundation
import RouterService
import Testing

@Suite struct DeploymentSelectionTests {
    static func catalog(strategy: String, _ deployments: [(name: String, input: Int, output: Int, weight: Int)]) throws -> [Deployment] {
        let entries = deployments.map { deployment in
            """
                  - name: \(deployment.name)
                    provider: local
                    upstream_model: local-chat
                    price: {input_micros_per_million: \(deployment.input), output_micros_per_million: \(deployment.output)}
                    context_window: 8192
                    capabilities: [chat, streaming]
                    weight: \(deployment.weight)
            """
        }.joined(separator: "\n")
        let catalog = try CatalogFile.parse("models:\n  m:\n    strategy: \(strategy)\n    deployments:\n" + entries, file: "selection")
        return try #require(catalog.model("m")).deployments
    }

    let selection = DeploymentSelection()

    @Test func aWeightedSplitOf95To5LandsWithinTolerance() throws {
        let deployments = try Self.catalog(strategy: "weighted", [("stable", 1, 1, 95), ("canary", 1, 1, 5)])
        var random = SplitMix64(seed: 42)
        var canary = 0
        for _ in 0..<2000 {
            let order = selection.order(deployments, strategy: .weighted, promptTokens: 10, completionTokens: 10, stats: [:], random: &random)
            if order[0].name == "canary" { canary += 1 }
            #expect(order.count == 2, "the other deployment stays a fallback")
        }
        // 100 expected; the binomial standard deviation is about 9.7: allow four of them.
        #expect((61...139).contains(canary), "canary took \(canary) of 2000")
    }

    @Test func lowestCostPicksTheCheapestForThisCall() throws {
        let deployments = try Self.catalog(strategy: "lowest_cost", [("dear", 3_000_000, 3_000_000, 1), ("cheap-in", 100_000, 5_000_000, 1), ("cheap-out", 2_000_000, 200_000, 1)])
        var random = SplitMix64(seed: 1)
        // A long prompt and a short answer: input price matters most.
        #expect(selection.order(deployments, strategy: .lowestCost, promptTokens: 10_000, completionTokens: 10, stats: [:], random: &random).first?.name == "cheap-in")
        // A short prompt and a long answer: output price matters most.
        #expect(selection.order(deployments, strategy: .lowestCost, promptTokens: 10, completionTokens: 10_000, stats: [:], random: &random).first?.name == "cheap-out")
    }

    @Test func lowestLatencyMeasuresEveryDeploymentThenPicksTheFastest() throws {
        let deployments = try Self.catalog(strategy: "lowest_latency", [("a", 1, 1, 1), ("b", 1, 1, 1)])
        var random = SplitMix64(seed: 1)
        var stats: [String: DeploymentStats] = [:]
        stats["a", default: DeploymentStats()].record(latencyMs: 300, reward: 1)
        #expect(selection.order(deployments, strategy: .lowestLatency, promptTokens: 1, completionTokens: 1, stats: stats, random: &random).first?.name == "b")
        stats["b", default: DeploymentStats()].record(latencyMs: 120, reward: 1)
        #expect(selection.order(deployments, strategy: .lowestLatency, promptTokens: 1, completionTokens: 1, stats: stats, random: &random).first?.name == "b")
        for _ in 0..<20 { stats["b"]!.record(latencyMs: 900, reward: 1) }
        #expect(selection.order(deployments, strategy: .lowestLatency, promptTokens: 1, completionTokens: 1, stats: stats, random: &random).first?.name == "a")
    }

    @Test func theBanditSendsMostTrafficToTheBestArm() throws {
        let deployments = try Self.catalog(strategy: "bandit", [("flaky", 1, 1, 1), ("best", 1, 1, 1), ("poor", 1, 1, 1)])
        let successRate = ["flaky": 0.6, "best": 0.95, "poor": 0.3]
        var random = SplitMix64(seed: 7)
        var stats: [String: DeploymentStats] = [:]
        var chosen: [String: Int] = [:]
        for _ in 0..<2000 {
            let arm = selection.order(deployments, strategy: .bandit, promptTokens: 10, completionTokens: 10, stats: stats, random: &random)[0].name
            chosen[arm, default: 0] += 1
            let succeeded = Double.random(in: 0..<1, using: &random) < successRate[arm]!
            stats[arm, default: DeploymentStats()].record(
                latencyMs: 200, reward: BanditReward.of(success: succeeded, latencyMs: 200, costMicros: 10))
        }
        #expect(chosen["best", default: 0] > 1400, "the best arm got \(chosen)")
        #expect(chosen["poor", default: 0] < chosen["flaky", default: 0])
    }

    @Test func theRewardFavoursSuccessThenSpeedAndPrice() {
        #expect(BanditReward.of(success: true, latencyMs: 5000, costMicros: 100_000) > BanditReward.of(success: false, latencyMs: 1, costMicros: 0))
        #expect(BanditReward.of(success: true, latencyMs: 100, costMicros: 10) > BanditReward.of(success: true, latencyMs: 2000, costMicros: 10))
        #expect(BanditReward.of(success: true, latencyMs: 100, costMicros: 10) > BanditReward.of(success: true, latencyMs: 100, costMicros: 50_000))
        let best = BanditReward.of(success: true, latencyMs: 0, costMicros: 0)
        #expect(abs(best - 1) < 1e-9)
    }
}
