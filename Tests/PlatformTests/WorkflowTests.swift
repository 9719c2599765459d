import Contracts
import Foundation
import GatewayService
import SwitchyardBus
import Testing

/// `/v1/workflows` and `/v1/runs` through the gateway, with the orchestrator carrying out runs
/// through the router and ingestion, on real PostgreSQL and NATS.
@Suite struct WorkflowTests {
    static let handbook = """
        {"name": "answer from the handbook", "inputs": ["question"], "steps": [
          {"name": "find", "type": "search", "query": "{{input.question}}", "limit": 2},
          {"name": "answer", "type": "chat", "model": "local-chat", "max_tokens": 20, "messages": [
            {"role": "system", "content": "Answer from these notes only:\\n{{steps.find.output}}"},
            {"role": "user", "content": "{{ input.question }}"}]}]}
        """

    @Test func aRunSearchesThenAnswersAndRecordsEachStep() async throws {
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database, role: .developer)
            let (_, stranger) = try await makeTenantWithKey(database, role: .owner)
            try await withGateway(tenant: tenant) { gateway in
                try await withServiceGroup(ingestionServices(gateway, tenant: tenant) + orchestratorServices(gateway, tenant: tenant)) {
                    let upload = #"{"name": "budgets.md", "text": "A budget caps what a tenant spends on model calls in a month."}"#
                    let document = try JSONCoding.decode(Document.self, from: try await send(.POST, gateway.url + "/v1/documents", key: key, json: upload).body)
                    #expect(try await eventually {
                        try JSONCoding.decode(Document.self, from: try await send(.GET, gateway.url + "/v1/documents/\(document.id)", key: key).body).status == .indexed
                    })

                    let created = try await send(.POST, gateway.url + "/v1/workflows", key: key, json: Self.handbook)
                    #expect(created.status == 201, "\(created.text)")
                    let workflow = try created.decode(Workflow.self)
                    #expect(workflow.spec.steps.map(\.name) == ["find", "answer"])
                    let listed = try await send(.GET, gateway.url + "/v1/workflows", key: key).decode(ListOf<Workflow>.self)
                    #expect(listed.data.map(\.id) == [workflow.id])

                    let started = try await send(.POST, gateway.url + "/v1/workflows/\(workflow.id)/runs", key: key,
                                                 json: #"{"input": {"question": "what does a budget cap"}}"#)
                    #expect(started.status == 202, "\(started.text)")
                    let queued = try started.decode(Run.self)
                    #expect(queued.status == .queued && queued.input == ["question": "what does a budget cap"])
                    let run = try await waitForRun(gateway, key: key, queued.id)
                    #expect(run.status == .succeeded, "\(run)")
                    #expect(run.steps.map(\.name) == ["find", "answer"] && run.steps.allSatisfy { $0.status == .succeeded && $0.attempts == 1 })
                    #expect(run.steps[0].output?.contains("A budget caps what a tenant spends") == true, "\(run.steps[0])")
                    #expect(run.output == run.steps[1].output && !(run.output ?? "").isEmpty)
                    #expect(run.finishedAt != nil)
                    let runs = try await send(.GET, gateway.url + "/v1/runs?workflow_id=\(workflow.id)", key: key).decode(ListOf<Run>.self)
                    #expect(runs.data.map(\.id) == [run.id] && runs.data.first?.steps.count == 2)
                    #expect(try await send(.GET, gateway.url + "/v1/runs?workflow_id=\(UUID())", key: key).decode(ListOf<Run>.self).data.isEmpty)
                    #expect(try await send(.GET, gateway.url + "/v1/runs?limit=0", key: key).status == 400)

                    // The answer's call was the caller's, recorded under the run's request and the step.
                    let calls = await gateway.usage.next(3).compactMap { try? $0.decode(UsageRecorded.self).payload }
                    let answer = try #require(calls.first { $0.model == "local-chat" })
                    #expect(answer.requestID.hasSuffix("-answer") && answer.completionTokens <= 20, "\(calls)")

                    // Another tenant sees none of it.
                    #expect(try await send(.GET, gateway.url + "/v1/workflows/\(workflow.id)", key: stranger).status == 404)
                    #expect(try await send(.GET, gateway.url + "/v1/runs/\(run.id)", key: stranger).status == 404)
                    #expect(try await send(.GET, gateway.url + "/v1/runs", key: stranger).decode(ListOf<Run>.self).data.isEmpty)
                    #expect(try await send(.POST, gateway.url + "/v1/workflows/\(workflow.id)/runs", key: stranger,
                                           json: #"{"input": {"question": "x"}}"#).status == 404)

                    let deleted = try await send(.DELETE, gateway.url + "/v1/workflows/\(workflow.id)", key: key)
                    #expect(deleted.status == 200)
                    #expect(try await send(.GET, gateway.url + "/v1/workflows/\(workflow.id)", key: key).status == 404)
                    // Its runs stay readable.
                    #expect(try await send(.GET, gateway.url + "/v1/runs/\(run.id)", key: key).status == 200)
                }
            }
        }
    }

    @Test func badSpecsAndInputsAreRefusedNamingTheField() async throws {
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database, role: .developer)
            let viewer = try await makeKey(database, tenant: tenant, role: .viewer)
            try await withGateway(tenant: tenant) { gateway in
                try await withServiceGroup(orchestratorServices(gateway, tenant: tenant)) {
                    let chat = #"{"name": "a", "type": "chat", "model": "local-chat", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}"#
                    let specs: [(String, String)] = [
                        (#"{"name": "w", "inputs": [], "steps": []}"#, "steps"),
                        (#"{"name": "w", "inputs": ["a b"], "steps": [\#(chat)]}"#, "inputs[0]"),
                        (#"{"name": "w", "inputs": [], "steps": [{"name": "a", "type": "chat", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}]}"#, "steps[0].model"),
                        (#"{"name": "w", "inputs": [], "steps": [{"name": "a", "type": "chat", "model": "m", "messages": [{"role": "user", "content": "x"}]}]}"#, "steps[0].max_tokens"),
                        (#"{"name": "w", "inputs": [], "steps": [\#(chat), \#(chat)]}"#, "steps[1].name"),
                        (#"{"name": "w", "inputs": [], "steps": [{"name": "s", "type": "search", "query": "{{input.nope}}"}]}"#, "steps[0].query"),
                        (#"{"name": "w", "inputs": [], "steps": [{"name": "s", "type": "search", "query": "{{steps.later.output}}"}, \#(chat)]}"#, "steps[0].query"),
                        (#"{"name": "w", "inputs": [], "steps": [{"name": "s", "type": "search", "query": "q", "limit": 99}]}"#, "steps[0].limit"),
                        (#"{"name": "w", "inputs": [], "steps": [{"name": "s", "type": "dance"}]}"#, "steps[0].type"),
                        (#"{"name": "w", "inputs": [], "steps": [{"name": "s", "type": "search", "query": "a\u0000b"}]}"#, "steps[0].query"),
                    ]
                    for (spec, param) in specs {
                        let answer = try await send(.POST, gateway.url + "/v1/workflows", key: key, json: spec)
                        #expect(answer.status == 400 && answer.error?.param == param, "\(spec): \(answer.status) \(answer.text)")
                    }
                    #expect(try await send(.POST, gateway.url + "/v1/workflows", key: viewer.secret, json: Self.handbook).status == 403)
                    let workflow = try await send(.POST, gateway.url + "/v1/workflows", key: key, json: Self.handbook).decode(Workflow.self)
                    let runs = gateway.url + "/v1/workflows/\(workflow.id)/runs"
                    for (input, param) in [(#"{"input": {}}"#, "input.question"), (#"{"input": {"question": "q", "extra": "x"}}"#, "input.extra"),
                                           (#"{"input": {"question": 7}}"#, "input.question")] {
                        let answer = try await send(.POST, runs, key: key, json: input)
                        #expect(answer.status == 400 && answer.error?.param == param, "\(input): \(answer.status) \(answer.text)")
                    }
                    #expect(try await send(.POST, gateway.url + "/v1/workflows/\(UUID())/runs", key: key, json: #"{"input": {}}"#).status == 404)
                    #expect(try await send(.GET, gateway.url + "/v1/runs/not-an-id", key: key).status == 404)
                    #expect(try await send(.POST, runs, key: viewer.secret, json: #"{"input": {"question": "q"}}"#).status == 403)
                }
            }
        }
    }

    /// A step whose call is refused for what it asks ends the run `failed`, naming the step, and
    /// `run.finished` says so; a budget a run could pass refuses it before anything runs.
    @Test func aRefusedStepFailsTheRunAndABudgetRefusesARunItCouldPass() async throws {
        try await withDatabase { database in
            let (tenant, owner) = try await makeTenantWithKey(database, role: .owner)
            try await withGateway(tenant: tenant) { gateway in
                let finished = DeliveryLog()
                let watcher = DurableConsumer(
                    bus: gateway.bus, spec: ConsumerSpec(name: uniqueName("finished"), filterSubject: Subject.event(tenant: tenant, type: RunFinished.eventType)),
                    logger: TestEnvironment.logger
                ) { delivery in
                    finished.record(delivery)
                    return .done
                }
                try await withServiceGroup(orchestratorServices(gateway, tenant: tenant) + billingServices(gateway, tenant: tenant) + [watcher]) {
                    let spec = #"{"name": "w", "inputs": [], "steps": [{"name": "talk", "type": "chat", "model": "local-embedding", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}]}"#
                    let workflow = try await send(.POST, gateway.url + "/v1/workflows", key: owner, json: spec).decode(Workflow.self)
                    let queued = try await send(.POST, gateway.url + "/v1/workflows/\(workflow.id)/runs", key: owner, json: #"{"input": {}}"#).decode(Run.self)
                    let run = try await waitForRun(gateway, key: owner, queued.id)
                    #expect(run.status == .failed && run.steps.first?.status == .failed && run.steps.first?.attempts == 1, "\(run)")
                    #expect(run.error?.hasPrefix("Step talk failed:") == true, "\(run.error ?? "")")
                    let event = try #require(await finished.next(1).first).decode(RunFinished.self).payload
                    #expect(event.runID == run.id && event.status == .failed && event.error == run.error)

                    // The model writes 48 tokens at most: at $5,000 a million tokens a run of it is
                    // reserved at about $0.29, past a budget of $0.10.
                    let set = try await send(.PUT, gateway.url + "/admin/tenants/\(tenant)/budget", key: owner, json: #"{"amount_micros":100000,"policy":"block"}"#)
                    #expect(set.status == 200, "\(set.text)")
                    let pricey = #"{"name": "w", "inputs": [], "steps": [{"name": "talk", "type": "chat", "model": "pricey-chat", "max_tokens": 1000, "messages": [{"role": "user", "content": "hi"}]}]}"#
                    let expensive = try await send(.POST, gateway.url + "/v1/workflows", key: owner, json: pricey).decode(Workflow.self)
                    let refused = try await send(.POST, gateway.url + "/v1/workflows/\(expensive.id)/runs", key: owner, json: #"{"input": {}}"#)
                    #expect(refused.status == 429 && refused.error?.type == .insufficientQuota, "\(refused.text)")
                    // A cheap run still starts.
                    let cheap = try await send(.POST, gateway.url + "/v1/workflows/\(workflow.id)/runs", key: owner, json: #"{"input": {}}"#)
                    #expect(cheap.status == 202, "\(cheap.text)")
                }
            }
        }
    }

    /// A run taken up again (after a crash: here, its first step recorded and the run announced
    /// anew) goes on from its next step with the recorded output, and does not call the first
    /// step again.
    @Test func aRunTakenUpAgainGoesOnFromItsNextStep() async throws {
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database, role: .developer)
            try await withGateway(tenant: tenant) { gateway in
                let spec = try JSONCoding.decode(WorkflowSpec.self, from: Data(Self.handbook.utf8))
                let (workflow, run) = (UUID.timeOrdered(), UUID.timeOrdered())
                let specJSON = String(decoding: try JSONCoding.encode(spec), as: UTF8.self)
                try await database.withTenant(tenant) { tx in
                    try await tx.execute("INSERT INTO workflows (tenant_id, id, spec) VALUES (\(tenant), \(workflow), \(specJSON)::jsonb)")
                    try await tx.execute("""
                        INSERT INTO workflow_runs (tenant_id, id, workflow_id, spec, input, status, request_id, embedding_model)
                        VALUES (\(tenant), \(run), \(workflow), \(specJSON)::jsonb, '{"question": "what is recorded"}', 'running',
                                'req_resumed', 'local-embedding')
                        """)
                    try await tx.execute("""
                        INSERT INTO workflow_run_steps (tenant_id, run_id, step_index, name, status, output, attempts)
                        VALUES (\(tenant), \(run), 0, 'find', 'succeeded', 'Recorded before the crash.', 2)
                        """)
                }
                // No ingestion runs here: a search would fail the run.
                try await withServiceGroup(orchestratorServices(gateway, tenant: tenant)) {
                    _ = try await gateway.bus.publish(Envelope(tenantID: tenant, payload: RunRequested(runID: run, workflowID: workflow)))
                    let finished = try await waitForRun(gateway, key: key, run)
                    #expect(finished.status == .succeeded, "\(finished)")
                    #expect(finished.steps[0] == Run.Step(name: "find", status: .succeeded, output: "Recorded before the crash.", error: nil, attempts: 2))
                    #expect(finished.steps[1].status == .succeeded && finished.output == finished.steps[1].output)
                    let calls = await gateway.usage.next(1).compactMap { try? $0.decode(UsageRecorded.self).payload }
                    #expect(calls.map(\.requestID) == ["req_resumed-answer"])
                }
            }
        }
    }

    /// A cancelled run calls no further step and says so; a run that has ended cannot be
    /// cancelled (409).
    @Test func aCancelledRunStopsBeforeItsNextStep() async throws {
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database, role: .developer)
            try await withGateway(tenant: tenant) { gateway in
                try await withServiceGroup(orchestratorServices(gateway, tenant: tenant)) {
                    // The slow model writes 20 tokens a second: each step takes a second.
                    let step = #"{"name": "NAME", "type": "chat", "model": "slow-chat", "max_tokens": 20, "messages": [{"role": "user", "content": "go on"}]}"#
                    let steps = (1...5).map { step.replacingOccurrences(of: "NAME", with: "s\($0)") }.joined(separator: ", ")
                    let workflow = try await send(.POST, gateway.url + "/v1/workflows", key: key,
                                                  json: #"{"name": "slow", "inputs": [], "steps": [\#(steps)]}"#).decode(Workflow.self)
                    let queued = try await send(.POST, gateway.url + "/v1/workflows/\(workflow.id)/runs", key: key, json: #"{"input": {}}"#).decode(Run.self)
                    let cancelled = try await send(.POST, gateway.url + "/v1/runs/\(queued.id)/cancel", key: key)
                    #expect(cancelled.status == 200, "\(cancelled.text)")
                    #expect(try cancelled.decode(Run.self).status == .cancelled)
                    // Long enough for the steps to have run had it not been cancelled.
                    try await Task.sleep(for: .seconds(3))
                    let run = try await send(.GET, gateway.url + "/v1/runs/\(queued.id)", key: key).decode(Run.self)
                    #expect(run.status == .cancelled && run.error == "Cancelled." && run.steps.count <= 1, "\(run)")
                    let again = try await send(.POST, gateway.url + "/v1/runs/\(queued.id)/cancel", key: key)
                    #expect(again.status == 409 && again.error?.code == "invalid_state", "\(again.text)")
                    #expect(try await send(.POST, gateway.url + "/v1/runs/\(UUID())/cancel", key: key).status == 404)
                }
            }
        }
    }

    static func noteAndAnswer(answeredBy model: String, then more: String = "") -> String {
        """
        {"name": "note and answer", "inputs": ["note"], "steps": [
          {"name": "store", "type": "document", "document": {"name": "note: {{input.note}}", "text": "{{input.note}}", "media_type": "text/markdown",
            "metadata": {"source": "note: {{input.note}}"}}},
          {"name": "find", "type": "search", "query": "{{input.note}}", "limit": 1, "filter": {"source": "note: {{input.note}}"}},
          {"name": "answer", "type": "chat", "model": "\(model)", "max_tokens": 5, "messages": [{"role": "user", "content": "{{steps.find.output}}"}]}\(more)]}
        """
    }

    /// A run leaves all the documents its steps stored, or none: a document step's document is
    /// indexed before the next step searches it and stays when the run succeeds; a run that then
    /// fails deletes it again, and its step says when.
    @Test func aFailedRunDeletesTheDocumentsItsStepsStored() async throws {
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database, role: .developer)
            try await withGateway(tenant: tenant) { gateway in
                try await withServiceGroup(ingestionServices(gateway, tenant: tenant) + orchestratorServices(gateway, tenant: tenant)) {
                    func run(answeredBy model: String, note: String) async throws -> Run {
                        let created = try await send(.POST, gateway.url + "/v1/workflows", key: key, json: Self.noteAndAnswer(answeredBy: model))
                        #expect(created.status == 201, "\(created.text)")
                        let workflow = try created.decode(Workflow.self)
                        let queued = try await send(.POST, gateway.url + "/v1/workflows/\(workflow.id)/runs", key: key,
                                                    json: #"{"input": {"note": "\#(note)"}}"#).decode(Run.self)
                        return try await waitForRun(gateway, key: key, queued.id)
                    }

                    let kept = try await run(answeredBy: "local-chat", note: "Quarterly invoices close on the fifth working day.")
                    #expect(kept.status == .succeeded, "\(kept)")
                    #expect(kept.steps[1].output == "Quarterly invoices close on the fifth working day.", "\(kept.steps[1])")
                    #expect(kept.steps.allSatisfy { $0.compensatedAt == nil })
                    let keptID = try #require(kept.steps[0].output.flatMap(UUID.init(uuidString:)))
                    let document = try await send(.GET, gateway.url + "/v1/documents/\(keptID)", key: key).decode(Document.self)
                    #expect(document.status == .indexed && document.name == "note: Quarterly invoices close on the fifth working day.")
                    #expect(document.mediaType == .markdown && document.metadata == ["source": document.name])

                    // Refused at its last step: the document stored at the first is deleted.
                    let undone = try await run(answeredBy: "local-embedding", note: "Realtime tickets expire after sixty seconds.")
                    #expect(undone.status == .failed && undone.error?.hasPrefix("Step answer failed:") == true, "\(undone)")
                    #expect(undone.steps[1].output == "Realtime tickets expire after sixty seconds.", "\(undone.steps[1])")
                    #expect(undone.steps[0].compensatedAt != nil && undone.steps[1].compensatedAt == nil, "\(undone.steps)")
                    let undoneID = try #require(undone.steps[0].output.flatMap(UUID.init(uuidString:)))
                    #expect(try await send(.GET, gateway.url + "/v1/documents/\(undoneID)", key: key).status == 404)
                    let documents = try await send(.GET, gateway.url + "/v1/documents", key: key).decode(DocumentList.self)
                    #expect(documents.data.map(\.id) == [keptID])
                    // Listed newest first, each with its own steps.
                    let runs = try await send(.GET, gateway.url + "/v1/runs", key: key).decode(ListOf<Run>.self)
                    #expect(runs.data == [undone, kept], "\(runs)")
                }
            }
        }
    }

    /// A cancelled run deletes the documents its steps stored, once the step under way ends.
    @Test func aCancelledRunDeletesTheDocumentsItsStepsStored() async throws {
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database, role: .developer)
            try await withGateway(tenant: tenant) { gateway in
                try await withServiceGroup(ingestionServices(gateway, tenant: tenant) + orchestratorServices(gateway, tenant: tenant)) {
                    // Slow steps after the search (each about a second) leave time to cancel.
                    let slow = #", {"name": "NAME", "type": "chat", "model": "slow-chat", "max_tokens": 20, "messages": [{"role": "user", "content": "go on"}]}"#
                    let more = (1...5).map { slow.replacingOccurrences(of: "NAME", with: "slow\($0)") }.joined()
                    let workflow = try await send(.POST, gateway.url + "/v1/workflows", key: key,
                                                  json: Self.noteAndAnswer(answeredBy: "local-chat", then: more)).decode(Workflow.self)
                    let queued = try await send(.POST, gateway.url + "/v1/workflows/\(workflow.id)/runs", key: key,
                                                json: #"{"input": {"note": "Cancelled runs leave nothing behind."}}"#).decode(Run.self)
                    #expect(try await eventually(timeout: .seconds(30)) {
                        try await send(.GET, gateway.url + "/v1/runs/\(queued.id)", key: key).decode(Run.self).steps.count >= 3
                    })
                    #expect(try await send(.POST, gateway.url + "/v1/runs/\(queued.id)/cancel", key: key).status == 200)
                    var run: Run?
                    #expect(try await eventually(timeout: .seconds(30)) {
                        run = try await send(.GET, gateway.url + "/v1/runs/\(queued.id)", key: key).decode(Run.self)
                        return run?.steps.first?.compensatedAt != nil
                    }, "\(String(describing: run))")
                    #expect(run?.status == .cancelled && (run?.steps.count ?? 0) < 8)
                    let id = try #require(run?.steps.first?.output.flatMap(UUID.init(uuidString:)))
                    #expect(try await send(.GET, gateway.url + "/v1/documents/\(id)", key: key).status == 404)
                    #expect(try await send(.GET, gateway.url + "/v1/documents", key: key).decode(DocumentList.self).data.isEmpty)
                }
            }
        }
    }

    /// A document step taken up again stores its document under the id recorded before it first
    /// acted: a document stored by an attempt whose answer was lost is the one the step ends
    /// with, not a second.
    @Test func aDocumentStepTakenUpAgainStoresItsDocumentOnce() async throws {
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database, role: .developer)
            try await withGateway(tenant: tenant) { gateway in
                let spec = WorkflowSpec(name: "store", inputs: [], steps: [
                    WorkflowStep(name: "store", type: .document, document: DocumentUpload(name: "kept once", text: "Stored once, however often asked.")),
                ])
                let specJSON = String(decoding: try JSONCoding.encode(spec), as: UTF8.self)
                let (workflow, run, document) = (UUID.timeOrdered(), UUID.timeOrdered(), UUID.timeOrdered())
                try await database.withTenant(tenant) { tx in
                    try await tx.execute("INSERT INTO workflows (tenant_id, id, spec) VALUES (\(tenant), \(workflow), \(specJSON)::jsonb)")
                    try await tx.execute("""
                        INSERT INTO workflow_runs (tenant_id, id, workflow_id, spec, input, status, request_id, embedding_model)
                        VALUES (\(tenant), \(run), \(workflow), \(specJSON)::jsonb, '{}', 'running', 'req_again', 'local-embedding')
                        """)
                    try await tx.execute("""
                        INSERT INTO workflow_run_effects (tenant_id, run_id, step_index, kind, resource_id)
                        VALUES (\(tenant), \(run), 0, 'document', \(document))
                        """)
                }
                try await withServiceGroup(ingestionServices(gateway, tenant: tenant) + orchestratorServices(gateway, tenant: tenant)) {
                    // The first attempt stored it, and its answer was lost.
                    let call = DocumentCreateCall(
                        tenantID: tenant, apiKeyID: nil, requestID: "req_again-store", embeddingModel: "local-embedding",
                        upload: spec.steps[0].document!, documentID: document)
                    let first = try await gateway.bus.request(
                        Subject.service(.ingestion, IngestionVerb.create), payload: JSONCoding.encode(call), timeout: .seconds(10))
                    #expect(try JSONCoding.decode(Document.self, from: first.payload).id == document)

                    _ = try await gateway.bus.publish(Envelope(tenantID: tenant, payload: RunRequested(runID: run, workflowID: workflow)))
                    let finished = try await waitForRun(gateway, key: key, run)
                    #expect(finished.status == .succeeded && finished.output == document.uuidString, "\(finished)")
                    let documents = try await send(.GET, gateway.url + "/v1/documents", key: key).decode(DocumentList.self)
                    #expect(documents.data.map(\.id) == [document] && documents.data.first?.status == .indexed, "\(documents)")
                }
            }
        }
    }

    private func waitForRun(_ gateway: GatewayUnderTest, key: String, _ id: UUID) async throws -> Run {
        var latest: Run?
        _ = try await eventually(timeout: .seconds(30)) {
            latest = try await send(.GET, gateway.url + "/v1/runs/\(id)", key: key).decode(Run.self)
            return latest.map { $0.status == .succeeded || $0.status == .failed } ?? false
        }
        return try #require(latest)
    }
}
