import Contracts
import Foundation
import GatewayService
import IngestionService
import ServiceLifecycle
import SwitchyardBus
import Testing

/// `/v1/documents` and `/v1/search` through the gateway, with the ingestion service indexing
/// through the router's local embedding model, on real PostgreSQL and NATS.
@Suite struct DocumentTests {
    static let budgets = """
        # Budgets

        A budget caps what a tenant may spend on model calls in a calendar month. Every call is
        reserved at the most it could cost before it runs and settled to its real cost after.
        """
    static let invoices = """
        <html><head><title>Invoices</title><script>var zebra = "never indexed";</script></head>
        <body><h1>Invoices</h1><p>An invoice closes a month of the ledger: one line per model,
        with the discount of the tenant&#39;s contract.</p></body></html>
        """

    @Test func aDocumentIsIndexedSearchedAndDeleted() async throws {
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database, role: .developer)
            let (_, strangerKey) = try await makeTenantWithKey(database, role: .owner)
            try await withGateway(tenant: tenant) { gateway in
                try await withServiceGroup(ingestionServices(gateway, tenant: tenant)) {
                    let budgets = try await upload(gateway, key: key, name: "budgets.md", text: Self.budgets, mediaType: "text/markdown")
                    #expect(budgets.status == .processing && budgets.bytes == Self.budgets.utf8.count && budgets.embeddingModel == "local-embedding")
                    let invoices = try await upload(gateway, key: key, name: "invoices.html", text: Self.invoices, mediaType: "text/html")
                    for document in [budgets, invoices] {
                        let indexed = try await waitUntilIndexed(gateway, key: key, document.id)
                        #expect(indexed.status == .indexed && (indexed.chunkCount ?? 0) >= 1 && indexed.indexedAt != nil)
                    }
                    // Indexing embedded the chunks through the router, charged to the uploader's key.
                    let usage = await gateway.usage.next(2)
                    let records = try usage.map { try $0.decode(UsageRecorded.self).payload }
                    #expect(records.count == 2 && records.allSatisfy { $0.model == "local-embedding" && $0.promptTokens > 0 })

                    let found = try await search(gateway, key: key, #"{"query": "what does a budget reserve before a call", "limit": 5}"#)
                    #expect(found.model == "local-embedding")
                    #expect(found.data.first?.documentID == budgets.id, "\(found.data)")
                    #expect(found.data.first?.documentName == "budgets.md")
                    #expect(found.data.first?.text.contains("reserved at the most it could cost") == true)
                    #expect(found.data.first?.keywordRank == 1)
                    #expect(found.data.allSatisfy { $0.similarity >= -1.0001 && $0.similarity <= 1.0001 })
                    #expect(zip(found.data, found.data.dropFirst()).allSatisfy { $0.score >= $1.score })

                    // The page's words are indexed, its script's are not.
                    let invoiceHits = try await search(gateway, key: key, #"{"query": "invoice discount", "limit": 1}"#)
                    #expect(invoiceHits.data.first?.documentID == invoices.id)
                    #expect(invoiceHits.data.first?.text.contains("the discount of the tenant's contract") == true)
                    let scripted = try await search(gateway, key: key, #"{"query": "zebra"}"#)
                    #expect(scripted.data.allSatisfy { $0.keywordRank == nil })

                    // Limited to one document.
                    let only = try await search(gateway, key: key, #"{"query": "budget", "document_ids": ["\#(invoices.id)"]}"#)
                    #expect(!only.data.isEmpty && only.data.allSatisfy { $0.documentID == invoices.id })

                    let list = try JSONCoding.decode(DocumentList.self, from: try await send(.GET, gateway.url + "/v1/documents?limit=1", key: key).body)
                    #expect(list.data.map(\.id) == [invoices.id] && list.hasMore)
                    let rest = try JSONCoding.decode(
                        DocumentList.self, from: try await send(.GET, gateway.url + "/v1/documents?after=\(invoices.id)", key: key).body)
                    #expect(rest.data.map(\.id) == [budgets.id] && !rest.hasMore)

                    // Another tenant sees none of it.
                    #expect(try await send(.GET, gateway.url + "/v1/documents/\(budgets.id)", key: strangerKey).status == 404)
                    #expect(try await send(.DELETE, gateway.url + "/v1/documents/\(budgets.id)", key: strangerKey).status == 404)
                    let strangers = try await search(gateway, key: strangerKey, #"{"query": "budget"}"#)
                    #expect(strangers.data.isEmpty)
                    let strangerList = try await send(.GET, gateway.url + "/v1/documents", key: strangerKey)
                    #expect(try JSONCoding.decode(DocumentList.self, from: strangerList.body).data.isEmpty)

                    let deleted = try await send(.DELETE, gateway.url + "/v1/documents/\(budgets.id)", key: key)
                    #expect(deleted.status == 200)
                    #expect(try JSONCoding.decode(DocumentDeleted.self, from: deleted.body).id == budgets.id)
                    #expect(try await send(.GET, gateway.url + "/v1/documents/\(budgets.id)", key: key).status == 404)
                    let after = try await search(gateway, key: key, #"{"query": "what does a budget reserve before a call"}"#)
                    #expect(after.data.allSatisfy { $0.documentID == invoices.id })
                }
            }
        }
    }

    @Test func badInputIsRefusedNamingTheField() async throws {
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database, role: .developer)
            let viewer = try await makeKey(database, tenant: tenant, role: .viewer)
            try await withGateway(tenant: tenant) { gateway in
                try await withServiceGroup(ingestionServices(gateway, tenant: tenant)) {
                    let url = gateway.url + "/v1/documents"
                    let refusals: [(String, Int, String)] = [
                        (#"{"name": "a.txt"}"#, 400, "text"),
                        (#"{"name": "", "text": "words"}"#, 400, "name"),
                        (#"{"name": "   ", "text": "words"}"#, 400, "name"),
                        (#"{"name": "\#(String(repeating: "n", count: 256))", "text": "words"}"#, 400, "name"),
                        (#"{"name": "a.txt", "text": "  \n "}"#, 400, "text"),
                        (#"{"name": "a.txt", "text": "a\u0000b"}"#, 400, "text"),
                        (#"{"name": "a.doc", "text": "words", "media_type": "application/msword"}"#, 400, "media_type"),
                        (#"{"name": "a.pdf", "text": "words", "media_type": "application/pdf"}"#, 400, "text"),
                        (#"{"name": "a.pdf", "media_type": "application/pdf"}"#, 400, "data"),
                        (#"{"name": "a.pdf", "media_type": "application/pdf", "data": "not base64!"}"#, 400, "data"),
                        (#"{"name": "a.txt", "text": "words", "data": "d29yZHM="}"#, 400, "data"),
                        (#"{"name": "big.txt", "text": "\#(String(repeating: "x", count: DocumentLimits.maxTextBytes + 1))"}"#, 413, "text"),
                    ]
                    for (body, status, param) in refusals {
                        let answer = try await send(.POST, url, key: key, json: body)
                        let error = try JSONCoding.decode(ErrorBody.self, from: answer.body)
                        #expect(answer.status == status && error.error.param == param, "\(body.prefix(80)): \(answer.status) \(error)")
                    }
                    // Past the gateway's 4 MiB, with and without an idempotency key (whose
                    // middleware reads the body first): 413, never a 500.
                    let huge = #"{"name": "huge.txt", "text": "\#(String(repeating: "x", count: 5 << 20))"}"#
                    for headers in [[], [("Idempotency-Key", "huge-\(UUID())")]] {
                        let answer = try await send(.POST, url, key: key, json: huge, headers: headers)
                        #expect(answer.status == 413 && answer.error?.code == "request_too_large", "\(headers): \(answer.status) \(answer.text)")
                    }
                    let searches: [(String, String)] = [
                        (#"{"query": ""}"#, "query"), (#"{"query": " "}"#, "query"), (#"{"query": "x", "limit": 0}"#, "limit"),
                        (#"{"query": "x", "limit": 51}"#, "limit"), (#"{"query": "x", "document_ids": []}"#, "document_ids"),
                        (#"{"query": "x", "document_ids": ["not-an-id"]}"#, "document_ids[0]"),
                    ]
                    for (body, param) in searches {
                        let answer = try await send(.POST, gateway.url + "/v1/search", key: key, json: body)
                        let error = try JSONCoding.decode(ErrorBody.self, from: answer.body)
                        #expect(answer.status == 400 && error.error.param == param, "\(body): \(answer.status) \(error)")
                    }
                    #expect(try await send(.GET, url + "?limit=0", key: key).status == 400)
                    #expect(try await send(.GET, url + "?after=yesterday", key: key).status == 400)
                    #expect(try await send(.GET, url + "/not-an-id", key: key).status == 404)

                    // A viewer reads and searches, and does not upload or delete.
                    #expect(try await send(.POST, url, key: viewer.secret, json: #"{"name": "a", "text": "b"}"#).status == 403)
                    #expect(try await send(.GET, url, key: viewer.secret).status == 200)
                    #expect(try await send(.POST, gateway.url + "/v1/search", key: viewer.secret, json: #"{"query": "b"}"#).status == 200)
                    // A key limited to other models does not pay for embeddings.
                    let chatOnly = try await makeKey(database, tenant: tenant, role: .developer, models: ["local-chat"])
                    let refused = try await send(.POST, gateway.url + "/v1/search", key: chatOnly.secret, json: #"{"query": "b"}"#)
                    #expect(refused.status == 403 && refused.error?.code == "model_not_allowed", "\(refused.text)")
                    // Nothing refused was stored.
                    let list = try JSONCoding.decode(DocumentList.self, from: try await send(.GET, url, key: key).body)
                    #expect(list.data.isEmpty)
                }
            }
        }
    }

    /// A document whose chunks the router refuses to embed ends `failed`, saying why, and
    /// `document.failed` is published; it is not retried for ever.
    /// A document's metadata comes back with it and with its search results; a search or a list
    /// narrowed by a filter finds only documents holding every label it names; relabelling a
    /// document changes what finds it.
    @Test func aSearchCanBeNarrowedToDocumentsWithGivenMetadata() async throws {
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database, role: .developer)
            try await withGateway(tenant: tenant) { gateway in
                try await withServiceGroup(ingestionServices(gateway, tenant: tenant)) {
                    func upload(_ name: String, _ metadata: String) async throws -> Document {
                        let body = #"{"name": "\#(name)", "text": "Budgets cap what a tenant spends in a month.", "metadata": \#(metadata)}"#
                        let stored = try await send(.POST, gateway.url + "/v1/documents", key: key, json: body)
                        #expect(stored.status == 202, "\(stored.text)")
                        return try stored.decode(Document.self)
                    }
                    let alpha = try await upload("alpha.txt", #"{"project": "alpha", "lang": "en"}"#)
                    let beta = try await upload("beta.txt", #"{"project": "beta", "lang": "en"}"#)
                    #expect(alpha.metadata == ["project": "alpha", "lang": "en"])
                    for document in [alpha, beta] {
                        #expect(try await eventually {
                            try await send(.GET, gateway.url + "/v1/documents/\(document.id)", key: key).decode(Document.self).status == .indexed
                        })
                    }
                    #expect(try await send(.GET, gateway.url + "/v1/documents/\(beta.id)", key: key).decode(Document.self).metadata["project"] == "beta")

                    func search(_ filter: String) async throws -> [SearchResults.Hit] {
                        let answer = try await send(.POST, gateway.url + "/v1/search", key: key, json: #"{"query": "what do budgets cap", "filter": \#(filter)}"#)
                        #expect(answer.status == 200, "\(answer.text)")
                        return try answer.decode(SearchResults.self).data
                    }
                    let both = try await search(#"{"lang": "en"}"#)
                    #expect(Set(both.map(\.documentID)) == [alpha.id, beta.id], "\(both)")
                    let onlyBeta = try await search(#"{"project": "beta", "lang": "en"}"#)
                    #expect(onlyBeta.map(\.documentID) == [beta.id] && onlyBeta.first?.documentMetadata == ["project": "beta", "lang": "en"], "\(onlyBeta)")
                    #expect(try await search(#"{"project": "gamma"}"#).isEmpty)

                    // Lists take the same filter, as metadata[KEY]=VALUE.
                    func list(_ query: String) async throws -> [UUID] {
                        try await send(.GET, gateway.url + "/v1/documents?" + query, key: key).decode(DocumentList.self).data.map(\.id)
                    }
                    #expect(try await list("metadata[lang]=en") == [beta.id, alpha.id])
                    #expect(try await list("metadata[project]=alpha&metadata[lang]=en") == [alpha.id])
                    #expect(try await list("metadata%5Bproject%5D=beta") == [beta.id])
                    #expect(try await list("metadata[project]=gamma").isEmpty)
                    let badKey = try await send(.GET, gateway.url + "/v1/documents?metadata[a%20b]=x", key: key)
                    #expect(badKey.status == 400 && badKey.error?.param == "metadata", "\(badKey.text)")

                    // Relabelled, alpha is found as beta's project: its chunks are searched by the new labels.
                    let relabelled = try await send(.POST, gateway.url + "/v1/documents/\(alpha.id)", key: key, json: #"{"metadata": {"project": "beta"}}"#)
                    #expect(relabelled.status == 200 && (try? relabelled.decode(Document.self).metadata) == ["project": "beta"], "\(relabelled.text)")
                    #expect(Set(try await search(#"{"project": "beta"}"#).map(\.documentID)) == [alpha.id, beta.id])
                    #expect(try await search(#"{"project": "alpha"}"#).isEmpty)
                    let unlabelled = try await send(.POST, gateway.url + "/v1/documents/\(alpha.id)", key: key, json: #"{"metadata": {"bad key": "x"}}"#)
                    #expect(unlabelled.status == 400 && unlabelled.error?.param == "metadata", "\(unlabelled.text)")
                    #expect(try await send(.POST, gateway.url + "/v1/documents/\(UUID())", key: key, json: #"{"metadata": {}}"#).status == 404)
                    #expect(try await send(.POST, gateway.url + "/v1/documents/\(alpha.id)", key: key, json: #"{}"#).status == 400)

                    let manyKeys = (0...DocumentMetadata.maxPairs).map { #""k\#($0)": "v""# }.joined(separator: ", ")
                    let refusals: [(String, String, String)] = [
                        ("/v1/documents", #"{"name": "a.txt", "text": "words", "metadata": {"not a key": "v"}}"#, "metadata"),
                        ("/v1/documents", #"{"name": "a.txt", "text": "words", "metadata": {\#(manyKeys)}}"#, "metadata"),
                        ("/v1/documents", #"{"name": "a.txt", "text": "words", "metadata": {"k": "\#(String(repeating: "v", count: 513))"}}"#, "metadata.k"),
                        ("/v1/documents", #"{"name": "a.txt", "text": "words", "metadata": {"k": 1}}"#, "metadata.k"),
                        ("/v1/search", #"{"query": "x", "filter": {"": "v"}}"#, "filter"),
                    ]
                    for (path, body, param) in refusals {
                        let answer = try await send(.POST, gateway.url + path, key: key, json: body)
                        #expect(answer.status == 400 && answer.error?.param == param, "\(body.prefix(100)): \(answer.status) \(answer.text)")
                    }
                }
            }
        }
    }

    /// A PDF's text is read when it is stored, then indexed and found like any document's. A file
    /// that is not a PDF, cannot be read, holds no text, whose text is longer than a document
    /// holds, or that takes longer to read than allowed is refused naming `data`, and nothing is
    /// stored.
    @Test func aPDFsTextIsReadWhenItIsStored() async throws {
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database, role: .developer)
            try await withGateway(tenant: tenant) { gateway in
                try await withServiceGroup(ingestionServices(gateway, tenant: tenant, config: IngestionConfig(pdfTimeout: .seconds(1)))) {
                    func upload(_ name: String, _ file: Data) async throws -> HTTPAnswer {
                        let body = #"{"name": "\#(name)", "media_type": "application/pdf", "data": "\#(file.base64EncodedString())"}"#
                        return try await send(.POST, gateway.url + "/v1/documents", key: key, json: body)
                    }
                    let policy = TestPDF.make(pages: [
                        ["Invoices close on the fifth working day of the month."],
                        ["Refunds are credited to the next invoice, never paid out."],
                    ])
                    let stored = try await upload("policy.pdf", policy)
                    #expect(stored.status == 202, "\(stored.text)")
                    let document = try stored.decode(Document.self)
                    #expect(document.mediaType == .pdf && document.bytes == policy.count && document.status == .processing)
                    #expect(try await eventually {
                        try await send(.GET, gateway.url + "/v1/documents/\(document.id)", key: key).decode(Document.self).status == .indexed
                    })
                    let found = try await send(.POST, gateway.url + "/v1/search", key: key, json: #"{"query": "how are refunds credited"}"#)
                    let results = try found.decode(SearchResults.self)
                    #expect(results.data.first?.documentID == document.id, "\(found.text)")
                    #expect(results.data.first?.text.contains("Refunds are credited to the next invoice, never paid out.") == true, "\(found.text)")

                    // 100 pages sharing one stream of 50 lines: a 26 kB file holding 1 MB of text.
                    let line = String(repeating: "word ", count: 40)
                    let refusals: [(String, Data, Int, String)] = [
                        ("not a PDF", Data("plain words".utf8), 400, "is not a PDF"),
                        ("unreadable", Data("%PDF-1.4\nnothing more".utf8), 400, "could not be read"),
                        ("no text", TestPDF.make(pages: [[]]), 400, "holds no text"),
                        ("too much text", TestPDF.make(pages: Array(repeating: Array(repeating: line, count: 50), count: 100)), 413, "longer than"),
                        // 2000 pages of 5000 strokes: about 5 s of pdftotext's time on a fast machine.
                        ("too slow", TestPDF.make(pages: Array(repeating: ["slow"], count: 2000), drawing: String(repeating: "0 0 m 1 1 l S ", count: 5000)),
                         400, "within the time"),
                    ]
                    for (name, file, status, reason) in refusals {
                        let answer = try await upload(name, file)
                        #expect(answer.status == status && answer.error?.param == "data", "\(name): \(answer.status) \(answer.text)")
                        #expect(answer.error?.message.contains(reason) == true, "\(name): \(answer.text)")
                    }
                    let listed = try await send(.GET, gateway.url + "/v1/documents", key: key).decode(DocumentList.self)
                    #expect(listed.data.map(\.id) == [document.id])
                }
            }
        }
    }

    @Test func aDocumentThatCannotBeEmbeddedEndsFailed() async throws {
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database, role: .developer)
            var config = GatewayConfig(port: 0)
            // A chat model makes no embeddings: the router refuses the calls for what they are.
            config.documentsEmbeddingModel = "local-chat"
            try await withGateway(tenant: tenant, config: config) { gateway in
                let failures = DeliveryLog()
                let watcher = DurableConsumer(
                    bus: gateway.bus, spec: ConsumerSpec(name: uniqueName("failed"), filterSubject: Subject.event(tenant: tenant, type: DocumentFailed.eventType)),
                    logger: TestEnvironment.logger
                ) { delivery in
                    failures.record(delivery)
                    return .done
                }
                try await withServiceGroup(ingestionServices(gateway, tenant: tenant) + [watcher]) {
                    let document = try await upload(gateway, key: key, name: "notes.txt", text: "Some notes.", mediaType: nil)
                    let failed = try await waitUntil(gateway, key: key, document.id) { $0.status != .processing }
                    #expect(failed.status == .failed && failed.chunkCount == nil)
                    #expect(failed.failure?.contains("local-chat") == true, "\(failed.failure ?? "")")
                    let event = try #require(await failures.next(1).first).decode(DocumentFailed.self)
                    #expect(event.payload.documentID == document.id && event.payload.reason == failed.failure)
                    // A search cannot embed its query either: unavailable, naming why, never a 500.
                    let search = try await send(.POST, gateway.url + "/v1/search", key: key, json: #"{"query": "notes"}"#)
                    #expect(search.status == 503 && search.text.contains("local-chat"), "\(search.status) \(search.text)")
                }
            }
        }
    }

    /// Uploads and searches take the caller's limits as embedding calls: a document is reserved
    /// at the most its chunks can cost, so documents uploaded together never pass a budget, and a
    /// refused upload stores nothing.
    @Test func uploadsTakeTheCallersLimitsAndNeverPassABudget() async throws {
        try await withDatabase { database in
            let (tenant, owner) = try await makeTenantWithKey(database, role: .owner)
            let limited = try await makeKey(database, tenant: tenant, role: .developer, limits: QuotaLimits(requestsPerMinute: 2))
            try await withGateway(tenant: tenant, replicas: 2) { gateway in
                // Billing seeds the budget's counter from the ledger.
                try await withServiceGroup(ingestionServices(gateway, tenant: tenant) + billingServices(gateway, tenant: tenant)) {
                    // 1 cent; at 0.02 micro-USD a token, 100 KB is reserved at 200,000 tokens, 4,000 micro-USD.
                    let set = try await send(.PUT, gateway.url + "/admin/tenants/\(tenant)/budget", key: owner,
                                             json: #"{"amount_micros":10000,"policy":"block"}"#)
                    #expect(set.status == 200, "\(set.text)")
                    let text = String(repeating: "Budgets hold across replicas. ", count: 100_000 / 30)
                    let body = String(decoding: try JSONCoding.encode(DocumentUpload(name: "big.txt", text: text)), as: UTF8.self)
                    let answers = try await withThrowingTaskGroup(of: HTTPAnswer.self) { group in
                        for index in 0..<8 {
                            let url = gateway.urls[index % 2] + "/v1/documents"
                            group.addTask { try await send(.POST, url, key: owner, json: body) }
                        }
                        return try await group.reduce(into: [HTTPAnswer]()) { $0.append($1) }
                    }
                    let admitted = answers.filter { $0.status == 202 }
                    let refused = answers.filter { $0.status == 429 }
                    #expect(admitted.count == 2 && refused.count == 6, "\(answers.map(\.status))")
                    #expect(refused.allSatisfy { $0.error?.type == .insufficientQuota }, "\(refused.first?.text ?? "")")
                    let stored = try JSONCoding.decode(DocumentList.self, from: try await send(.GET, gateway.url + "/v1/documents", key: owner).body)
                    #expect(stored.data.count == admitted.count)

                    // A key's request rate counts uploads and searches, with OpenAI's headers.
                    let search = #"{"query": "replicas"}"#
                    let first = try await send(.POST, gateway.url + "/v1/search", key: limited.secret, json: search)
                    #expect(first.status == 200 && first.headers.first(name: "x-ratelimit-limit-requests") == "2", "\(first.text)")
                    #expect(try await send(.POST, gateway.url + "/v1/search", key: limited.secret, json: search).status == 200)
                    let third = try await send(.POST, gateway.url + "/v1/search", key: limited.secret, json: search)
                    #expect(third.status == 429 && third.headers.first(name: "retry-after") != nil)
                }
            }
        }
    }

    /// The announcement is published before the document is stored (so nothing is stored that
    /// nothing indexes): an announcement that arrives first waits for its document.
    @Test func anAnnouncementThatArrivesBeforeItsDocumentWaitsForIt() async throws {
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database, role: .developer)
            try await withGateway(tenant: tenant) { gateway in
                try await withServiceGroup(ingestionServices(gateway, tenant: tenant)) {
                    let id = UUID.timeOrdered()
                    _ = try await gateway.bus.publish(Envelope(tenantID: tenant, payload: DocumentUploaded(documentID: id, name: "late.txt", bytes: 11)))
                    try await Task.sleep(for: .seconds(3))
                    try await database.withTenant(tenant) { tx in
                        try await tx.execute("""
                            INSERT INTO documents (tenant_id, id, name, media_type, body, bytes, request_id, embedding_model)
                            VALUES (\(tenant), \(id), 'late.txt', 'text/plain', 'Late words.', 11, 'req_late', 'local-embedding')
                            """)
                    }
                    let indexed = try await waitUntilIndexed(gateway, key: key, id)
                    #expect(indexed.chunkCount == 1)
                }
            }
        }
    }

    private func upload(_ gateway: GatewayUnderTest, key: String, name: String, text: String, mediaType: String?) async throws -> Document {
        let upload = DocumentUpload(name: name, text: text, mediaType: mediaType.flatMap(DocumentMediaType.init))
        let answer = try await send(.POST, gateway.url + "/v1/documents", key: key, json: String(decoding: try JSONCoding.encode(upload), as: UTF8.self))
        #expect(answer.status == 202, "\(String(decoding: answer.body, as: UTF8.self))")
        return try JSONCoding.decode(Document.self, from: answer.body)
    }

    private func waitUntilIndexed(_ gateway: GatewayUnderTest, key: String, _ id: UUID) async throws -> Document {
        try await waitUntil(gateway, key: key, id) { $0.status == .indexed }
    }

    private func waitUntil(_ gateway: GatewayUnderTest, key: String, _ id: UUID, _ done: (Document) -> Bool) async throws -> Document {
        var latest: Document?
        _ = try await eventually {
            latest = try JSONCoding.decode(Document.self, from: try await send(.GET, gateway.url + "/v1/documents/\(id)", key: key).body)
            return latest.map(done) ?? false
        }
        return try #require(latest)
    }

    private func search(_ gateway: GatewayUnderTest, key: String, _ body: String) async throws -> SearchResults {
        let answer = try await send(.POST, gateway.url + "/v1/search", key: key, json: body)
        #expect(answer.status == 200, "\(String(decoding: answer.body, as: UTF8.self))")
        return try JSONCoding.decode(SearchResults.self, from: answer.body)
    }
}
