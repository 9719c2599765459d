import Contracts
import Foundation
import RouterService
import SwitchyardBus
import SwitchyardDatabase
import Testing

/// The ingestion executable killed with SIGKILL while it indexes: every document still ends
/// indexed once, by the replica started after it.
@Suite struct IngestionCrashTests {
    static func indexed(_ tenant: UUID, _ database: Database) async throws -> Int {
        try await database.withTenant(tenant) { tx in
            for try await count in try await tx.query("SELECT count(*)::int FROM documents WHERE status = 'indexed'").decode(Int.self) {
                return count
            }
            return 0
        }
    }

    @Test func documentsBeingIndexedWhenIngestionIsKilledAreAllIndexed() async throws {
        let (server, natsProcess) = try await PrivateNATSServer.started()
        defer {
            natsProcess.kill()
            try? FileManager.default.removeItem(at: server.directory)
        }
        let total = 200
        try await withDatabase { database in
            let tenant = try await makeTenant(database)
            try await withBus(url: server.url) { bus in
                let router = routerServices(bus: bus, catalogStore: CatalogStore(gatewayTestCatalog, path: "(test catalog)"), database: database)
                try await withRunning(router) {
                    // Stored and announced as `svc.ingestion.create` does, all before the
                    // first replica starts, so that it is killed with work in hand.
                    let text = (1...400).map { "Sentence \($0) about budgets, routers and ledgers." }.joined(separator: " ")
                    for index in 0..<total {
                        let id = UUID.timeOrdered()
                        try await database.withTenant(tenant) { tx in
                            try await tx.execute("""
                                INSERT INTO documents (tenant_id, id, name, media_type, body, bytes, request_id, embedding_model)
                                VALUES (\(tenant), \(id), \("doc-\(index).txt"), 'text/plain', \(text), \(Int32(text.utf8.count)),
                                        \("req_doc_\(index)"), 'local-embedding')
                                """)
                        }
                        _ = try await bus.publish(Envelope(tenantID: tenant, payload: DocumentUploaded(documentID: id, name: "doc-\(index).txt", bytes: text.utf8.count)))
                    }
                    let environment = [
                        "NATS_URL": server.url, "SWITCHYARD_INGESTION_OPS_PORT": "0", "SWITCHYARD_LOG_LEVEL": "warning",
                        // Documents the killed replica held are indexed by the next 3 s later.
                        "SWITCHYARD_INGESTION_ACK_WAIT": "3s",
                    ]
                    let first = try ChildProcess("ingestion", environment: environment)
                    let reached = try await eventually(timeout: .seconds(60)) { try await Self.indexed(tenant, database) >= total / 5 }
                    first.kill()
                    #expect(reached, "ingestion never indexed \(total / 5) documents")
                    let atKill = try await Self.indexed(tenant, database)
                    #expect(atKill < total, "everything was indexed before the kill; the test proved less than it should")

                    let second = try ChildProcess("ingestion", environment: environment)
                    let finished = try await eventually(timeout: .seconds(120)) { try await Self.indexed(tenant, database) == total }
                    let indexed = try await Self.indexed(tenant, database)
                    #expect(finished, "\(indexed) of \(total) indexed")
                    // Each document's chunks once: as many as it says, numbered from 0.
                    let mismatched = try await database.withTenant(tenant) { tx in
                        let rows = try await tx.query("""
                            SELECT count(*)::int FROM documents d
                            WHERE d.chunk_count IS DISTINCT FROM (SELECT count(*) FROM document_chunks c WHERE c.document_id = d.id)
                               OR d.chunk_count - 1 IS DISTINCT FROM (SELECT max(chunk_index) FROM document_chunks c WHERE c.document_id = d.id)
                            """)
                        for try await count in rows.decode(Int.self) { return count }
                        return -1
                    }
                    #expect(mismatched == 0)
                    #expect(await second.terminate() == 0, "ingestion did not shut down gracefully on SIGTERM")
                }
            }
        }
    }
}
