import Contracts
import Foundation

/// A tenant's routing override (see `RoutingOverride`) against the catalog: checked before it is
/// stored, applied to each of the tenant's calls.
extension Catalog {
    /// The override as it would apply, or a fault naming the field that cannot: a model the
    /// catalog lacks, an unknown strategy, a deployment that is not the model's or is named
    /// twice, weights given for some deployments only or all 0 under `weighted`.
    public func check(_ override: RoutingOverride) throws(ServiceFault) -> RoutingOverride {
        guard let entry = model(override.model) else {
            throw ServiceFault(code: "model_not_found", message: "The catalog has no model `\(override.model)`.", param: "model")
        }
        guard override.strategy != nil || override.deployments != nil else {
            throw Self.invalid("strategy", "Set strategy, deployments or both.")
        }
        var strategy = entry.strategy
        if let name = override.strategy {
            guard let chosen = RoutingStrategy(rawValue: name) else {
                let known = RoutingStrategy.allCases.map(\.rawValue).joined(separator: ", ")
                throw Self.invalid("strategy", "strategy must be one of \(known).")
            }
            strategy = chosen
        }
        guard let choices = override.deployments else { return RoutingOverride(model: entry.name, strategy: override.strategy) }
        let known = entry.deployments.map(\.name)
        guard !choices.isEmpty else {
            throw Self.invalid("deployments", "deployments must name at least one of \(known.joined(separator: ", ")).")
        }
        let weighted = choices.filter { $0.weight != nil }.count
        for (index, choice) in choices.enumerated() {
            guard known.contains(choice.name) else {
                throw Self.invalid("deployments[\(index)].name", "`\(choice.name)` is not a deployment of `\(entry.name)`; it has \(known.joined(separator: ", ")).")
            }
            guard !choices[..<index].contains(where: { $0.name == choice.name }) else {
                throw Self.invalid("deployments[\(index)].name", "`\(choice.name)` is named twice.")
            }
            guard weighted == 0 || weighted == choices.count else {
                throw Self.invalid("deployments[\(index)].weight", "Give a weight for every deployment or for none.")
            }
            if let weight = choice.weight, !(0...1_000_000).contains(weight) {
                throw Self.invalid("deployments[\(index)].weight", "weight must be a whole number from 0 to 1000000.")
            }
        }
        let routed = entry.routed(by: RoutingOverride(model: entry.name, strategy: strategy.rawValue, deployments: choices))!
        if strategy == .weighted, routed.deployments.allSatisfy({ $0.weight == 0 }) {
            throw Self.invalid("deployments", "Under the weighted strategy the weights must not all be 0.")
        }
        return RoutingOverride(model: entry.name, strategy: override.strategy, deployments: choices)
    }

    private static func invalid(_ field: String, _ message: String) -> ServiceFault {
        ServiceFault(code: "invalid_value", message: message, param: field)
    }
}

extension ModelEntry {
    /// The entry as the tenant's override routes it: the override's strategy, its deployments
    /// in its order with its weights. A deployment the catalog no longer has is left out; nil
    /// when none is left, so the call fails rather than reach a deployment the tenant ruled out.
    public func routed(by override: RoutingOverride?) -> ModelEntry? {
        guard let override else { return self }
        var routed = self
        if let strategy = override.strategy.flatMap(RoutingStrategy.init(rawValue:)) { routed.strategy = strategy }
        if let choices = override.deployments {
            routed.deployments = choices.compactMap { choice in
                guard var deployment = deployments.first(where: { $0.name == choice.name }) else { return nil }
                if let weight = choice.weight { deployment.weight = weight }
                return deployment
            }
            guard !routed.deployments.isEmpty else { return nil }
        }
        return routed
    }
}
