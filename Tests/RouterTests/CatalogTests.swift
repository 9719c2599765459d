import Contracts
import Foundation
import RouterService
import Testing

@Suite struct CatalogTests {
    static let valid = """
        models:
          local-chat:
            strategy: priority
            deployments:
              - name: local/primary
                provider: local
                upstream_model: local-chat
                price: {input_micros_per_million: 500000, output_micros_per_million: 1500000}
                context_window: 4096
                capabilities: [chat, streaming, embeddings]
              - name: local/secondary
                provider: local
                upstream_model: local-chat
                price: {input_micros_per_million: 400000, output_micros_per_million: 1200000}
                context_window: 8192
                capabilities: [chat]
                tokens_per_second: 20
        """

    @Test func aValidCatalogKeepsItsDeploymentsInOrder() throws {
        let catalog = try CatalogFile.parse(Self.valid, file: "catalog.yaml")
        let model = try #require(catalog.model("local-chat"))
        #expect(model.strategy == .priority)
        #expect(model.deployments.map(\.name) == ["local/primary", "local/secondary"])
        #expect(model.deployments[0].price == Price(inputMicrosPerMillion: 500_000, outputMicrosPerMillion: 1_500_000))
        #expect(model.deployments[1].capabilities == [.chat] && model.deployments[1].tokensPerSecond == 20)
    }

    /// What a call without max_tokens can get: the bound a budget reserves it at.
    @Test func aDeploymentsCompletionBoundComesFromWhatItsProviderIsSentOrTheCatalogStates() throws {
        let catalog = try CatalogFile.parse("""
            models:
              bounds:
                deployments:
                  - {name: a/local, provider: local, upstream_model: local-chat, context_window: 4096, capabilities: [chat],
                     price: {input_micros_per_million: 1, output_micros_per_million: 1}}
                  - {name: a/tiny-local, provider: local, upstream_model: local-chat, context_window: 20, capabilities: [chat],
                     price: {input_micros_per_million: 1, output_micros_per_million: 1}}
                  - {name: a/openai, provider: openai, base_url: "http://127.0.0.1:1/v1", upstream_model: m, context_window: 128000,
                     capabilities: [chat], price: {input_micros_per_million: 1, output_micros_per_million: 1}}
                  - {name: a/openai-stated, provider: openai, base_url: "http://127.0.0.1:1/v1", upstream_model: m, context_window: 128000,
                     max_output_tokens: 16384, capabilities: [chat], price: {input_micros_per_million: 1, output_micros_per_million: 1}}
                  - {name: a/anthropic, provider: anthropic, base_url: "http://127.0.0.1:1/v1", upstream_model: m, context_window: 200000,
                     capabilities: [chat], price: {input_micros_per_million: 1, output_micros_per_million: 1}}
                  - {name: a/anthropic-long, provider: anthropic, base_url: "http://127.0.0.1:1/v1", upstream_model: m, context_window: 200000,
                     max_output_tokens: 64000, capabilities: [chat], price: {input_micros_per_million: 1, output_micros_per_million: 1}}
                  - {name: a/anthropic-short, provider: anthropic, base_url: "http://127.0.0.1:1/v1", upstream_model: m, context_window: 200000,
                     max_output_tokens: 1000, capabilities: [chat], price: {input_micros_per_million: 1, output_micros_per_million: 1}}
            """, file: "bounds.yaml")
        let bounds = try #require(catalog.model("bounds")).deployments.map(\.completionTokensAtMost)
        #expect(bounds == [LocalModel.defaultReplyTokens, 20, 128_000, 16_384, 4096, 4096, 1000])
    }

    @Test func theExampleCatalogIsValid() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let catalog = try CatalogFile.load(path: root.appendingPathComponent("catalog.example.yaml").path)
        #expect(catalog.model("local-chat")?.deployments.first?.price.inputMicrosPerMillion ?? 0 > 0)
    }

    @Test(arguments: [
        ("price: {input_micros_per_million: 500000, output_micros_per_million: 1500000}",
         "price: {input_micros_per_million: lots, output_micros_per_million: 1500000}",
         8, "models.local-chat.deployments[0].price.input_micros_per_million", "expected a whole number"),
        ("    context_window: 4096\n", "    context_window: 0\n",
         9, "models.local-chat.deployments[0].context_window", "must be positive"),
        ("    context_window: 4096\n", "    context_window: 4096\n        max_output_tokens: 5000\n",
         10, "models.local-chat.deployments[0].max_output_tokens", "must be from 1 to the context window (4096)"),
        ("  - name: local/secondary", "  - name: local/primary",
         11, "models.local-chat.deployments[1].name", "deployment local/primary is also defined under local-chat"),
        ("provider: local\n        upstream_model: local-chat\n        price: {input_micros_per_million: 500000",
         "provider: local\n        price: {input_micros_per_million: 500000",
         5, "models.local-chat.deployments[0].upstream_model", "is required"),  // the line of the deployment lacking it
        ("provider: local\n        upstream_model: local-chat\n        price: {input_micros_per_million: 500000",
         "provider: anthropic\n        base_url: https://api.anthropic.com/v1\n        upstream_model: local-chat\n        price: {input_micros_per_million: 500000",
         11, "models.local-chat.deployments[0].capabilities", "the anthropic provider makes no embeddings"),
        ("capabilities: [chat, streaming, embeddings]", "capabilities: [chat, tools]",
         10, "models.local-chat.deployments[0].capabilities", "the local provider calls no tools"),
    ])
    func aBadCatalogNamesTheLineAndField(original: String, replacement: String, line: Int, field: String, reason: String) {
        let text = Self.valid.replacingOccurrences(of: original, with: replacement)
        #expect(text != Self.valid, "the case did not change the catalog")
        #expect(throws: CatalogError(file: "catalog.yaml", line: line, field: field, reason: reason)) {
            try CatalogFile.parse(text, file: "catalog.yaml")
        }
    }

    @Test func brokenYAMLNamesItsLine() {
        #expect {
            try CatalogFile.parse("models:\n  a: [unclosed\n", file: "c.yaml")
        } throws: { error in
            (error as? CatalogError)?.line != nil && "\(error)".hasPrefix("c.yaml:")
        }
    }

    @Test func anUnknownProviderIsRefused() {
        let text = Self.valid.replacingOccurrences(of: "provider: local\n        upstream_model: local-chat\n        price: {input_micros_per_million: 500000", with: "provider: carrier-pigeon\n        upstream_model: local-chat\n        price: {input_micros_per_million: 500000")
        #expect {
            try CatalogFile.parse(text, file: "c.yaml")
        } throws: { error in
            (error as? CatalogError)?.field == "models.local-chat.deployments[0].provider"
        }
    }
}
