import Foundation
import Testing
import Yams

/// `deploy/`: the alert rules and the Grafana dashboard name only metrics the services export,
/// and every rule says how bad it is and what happened.
@Suite struct MonitoringTests {
    static let root = TestEnvironment.root

    /// Every metric the services define, by the label they give it in the code.
    static func exportedMetrics() throws -> Set<String> {
        var names: Set<String> = []
        for folder in ["Services", "Shared"] {
            let files = FileManager.default.enumerator(at: root.appendingPathComponent(folder), includingPropertiesForKeys: nil)!
            for case let file as URL in files where file.pathExtension == "swift" {
                let text = try String(contentsOf: file, encoding: .utf8)
                for match in text.matches(of: /label: "(switchyard_[a-z_]+)"/) { names.insert(String(match.1)) }
            }
        }
        return names
    }

    /// The metric names in a PromQL expression; histograms' `_bucket`, `_count` and `_sum` series
    /// count as their histogram.
    static func metrics(in expression: String) -> Set<String> {
        Set(expression.matches(of: /switchyard_[a-z_]+/).map { match in
            String(match.0).replacing(/_(bucket|count|sum)$/, with: "")
        })
    }

    @Test func everyAlertRuleIsCompleteAndWatchesAnExportedMetric() throws {
        let exported = try Self.exportedMetrics()
        #expect(exported.contains("switchyard_consumer_pending_messages") && exported.contains("switchyard_router_breaker_state"))
        let text = try String(contentsOf: Self.root.appendingPathComponent("deploy/prometheus/alerts.yaml"), encoding: .utf8)
        let document = try #require(try Yams.load(yaml: text) as? [String: Any])
        let rules = (document["groups"] as? [[String: Any]] ?? []).flatMap { $0["rules"] as? [[String: Any]] ?? [] }
        #expect(rules.count >= 6)
        var watched: Set<String> = []
        for rule in rules {
            let name = rule["alert"] as? String ?? "(unnamed)"
            let expression = try #require(rule["expr"] as? String, "\(name) has no expr")
            let used = Self.metrics(in: expression)
            #expect(!used.isEmpty && used.isSubset(of: exported), "\(name) names \(used.subtracting(exported).sorted())")
            #expect(["warning", "critical"].contains((rule["labels"] as? [String: Any])?["severity"] as? String), "\(name) has no severity")
            #expect((rule["annotations"] as? [String: Any])?["summary"] is String, "\(name) has no summary")
            watched.formUnion(used)
        }
        // What the issue asks alerts on: DLQ growth, consumer lag, breaker open, error rate.
        for metric in ["switchyard_dead_letter_queue_messages", "switchyard_consumer_pending_messages",
                       "switchyard_router_breaker_state", "switchyard_gateway_request_duration_seconds"] {
            #expect(watched.contains(metric), "no rule watches \(metric)")
        }
    }

    @Test func everyDashboardPanelQueriesExportedMetrics() throws {
        let exported = try Self.exportedMetrics()
        let data = try Data(contentsOf: Self.root.appendingPathComponent("deploy/grafana/dashboards/switchyard.json"))
        let dashboard = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let panels = (dashboard["panels"] as? [[String: Any]] ?? []).filter { $0["type"] as? String != "row" }
        #expect(panels.count >= 12)
        var queried: Set<String> = []
        for panel in panels {
            let title = panel["title"] as? String ?? "(untitled)"
            let expressions = (panel["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String }
            #expect(!expressions.isEmpty, "\(title) queries nothing")
            for expression in expressions {
                let used = Self.metrics(in: expression)
                #expect(!used.isEmpty && used.isSubset(of: exported), "\(title) names \(used.subtracting(exported).sorted())")
                queried.formUnion(used)
            }
        }
        // Rate, errors and latency by service and route, consumer lag, DLQ depth.
        for metric in ["switchyard_gateway_request_duration_seconds", "switchyard_bus_request_handle_seconds",
                       "switchyard_consumer_pending_messages", "switchyard_dead_letter_queue_messages"] {
            #expect(queried.contains(metric), "no panel shows \(metric)")
        }
    }
}
