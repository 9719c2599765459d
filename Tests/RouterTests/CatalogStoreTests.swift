import Foundation
import RouterService
import Testing

@Suite struct CatalogStoreTests {
    static func model(_ name: String) -> String {
        """
        models:
          \(name):
            deployments:
              - name: local/\(name)
                provider: local
                upstream_model: local-chat
                price: {input_micros_per_million: 1, output_micros_per_million: 1}
                context_window: 100
                capabilities: [chat]
        """
    }

    @Test func aReloadPutsTheNewCatalogInForceAndAFailedOneKeepsTheOld() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("catalog-\(UUID().uuidString).yaml")
        defer { try? FileManager.default.removeItem(at: file) }
        try Self.model("first").write(to: file, atomically: true, encoding: .utf8)
        let store = try CatalogStore(path: file.path)
        #expect(store.catalog.model("first") != nil)

        try Self.model("second").write(to: file, atomically: true, encoding: .utf8)
        try store.reload()
        #expect(store.catalog.model("second") != nil && store.catalog.model("first") == nil)

        try "models:\n  broken: [".write(to: file, atomically: true, encoding: .utf8)
        #expect(throws: CatalogError.self) { try store.reload() }
        #expect(store.catalog.model("second") != nil, "a failed reload replaced the catalog in force")
    }
}
