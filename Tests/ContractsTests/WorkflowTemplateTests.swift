import Contracts
import Foundation
import Testing

@Suite struct WorkflowTemplateTests {
    let spec = WorkflowSpec(name: "w", inputs: ["question"], steps: [
        WorkflowStep(name: "find", type: .search, query: "{{input.question}}", limit: 2),
        WorkflowStep(name: "answer", type: .chat, model: "local-chat", messages: [
            WorkflowMessage(role: "system", content: "Notes: {{steps.find.output}}"),
            WorkflowMessage(role: "user", content: "{{ input.question }} {{other.thing}}"),
        ], maxTokens: 10),
        WorkflowStep(name: "shorter", type: .chat, model: "local-chat", messages: [
            WorkflowMessage(role: "user", content: "Shorter: {{steps.answer.output}}"),
        ], maxTokens: 5),
    ])

    @Test func textsAreFilledWithTheInputAndEarlierOutputs() throws {
        try spec.check()
        let filled = WorkflowTemplate.fill(
            "Q: {{input.question}} / {{ steps.find.output }} / {{other.thing}} / {{", input: ["question": "why"],
            outputs: ["find": "because"], outputBytesAtMost: spec.outputBytesAtMost)
        #expect(filled == "Q: why / because / {{other.thing}} / {{")
        #expect(WorkflowTemplate.references(in: "{{input.a}}{{steps.b.output}}{{steps.b}}") == [.input("a"), .output("b")])
    }

    @Test func aLongReplyIsCutWhereALaterStepReadsItAtACharactersEnd() {
        // 10 tokens at 8 bytes: 80 bytes of "é" (2 bytes each) is 40 of them.
        let reply = String(repeating: "é", count: 100)
        let filled = WorkflowTemplate.fill("{{steps.answer.output}}", input: [:], outputs: ["answer": reply], outputBytesAtMost: spec.outputBytesAtMost)
        #expect(filled == String(repeating: "é", count: 40))
    }

    @Test func aRunsBoundsCountTheInputAndTheMostOfEachOutputRead() {
        let bounds = spec.bounds(input: ["question": "why"])
        #expect(bounds[0] == WorkflowCallBound(model: nil, promptBytes: 3, completionTokens: 0))
        // 3 + (4 + "Notes: " 7 + 2 chunks of 4802 bytes) + (4 + 3 + " " 1 + "{{other.thing}}" 15).
        #expect(bounds[1] == WorkflowCallBound(model: "local-chat", promptBytes: 3 + 4 + 7 + 2 * 4802 + 4 + 3 + 1 + 15, completionTokens: 10))
        #expect(bounds[2] == WorkflowCallBound(model: "local-chat", promptBytes: 3 + 4 + 9 + 80, completionTokens: 5))
    }

    /// A document step embeds its text's chunks, which overlap: reserved at twice the most its
    /// text can hold, never past a document's limit; later steps read its id.
    @Test func aDocumentStepIsBoundByItsTextAndCutToADocumentsLimits() throws {
        let store = WorkflowSpec(name: "w", inputs: ["notes"], steps: [
            WorkflowStep(name: "store", type: .document, document: DocumentUpload(name: "Notes {{input.notes}}", text: "# Notes\n{{input.notes}}")),
            WorkflowStep(name: "huge", type: .document, document: DocumentUpload(name: "n", text: "{{steps.store.output}}{{input.notes}}")),
        ])
        try store.check()
        let notes = String(repeating: "n", count: 600 * 1024)
        #expect(store.bounds(input: ["notes": "abc"])[0] == WorkflowCallBound(model: nil, promptBytes: 2 * (8 + 3), completionTokens: 0))
        #expect(store.bounds(input: ["notes": notes])[1] == WorkflowCallBound(model: nil, promptBytes: 2 * DocumentLimits.maxTextBytes, completionTokens: 0))
        #expect(store.outputBytesAtMost["store"] == 36)

        let filled = WorkflowTemplate.document(store.steps[0].document!) { WorkflowTemplate.fill($0, input: ["notes": notes], outputs: [:], outputBytesAtMost: [:]) }
        #expect(filled.name.utf8.count == DocumentLimits.maxNameLength && filled.text?.utf8.count == DocumentLimits.maxTextBytes)

        func refusal(_ step: WorkflowStep) -> InvalidWorkflow? {
            do { try WorkflowSpec(name: "w", inputs: [], steps: [step]).check() } catch { return error }
            return nil
        }
        #expect(refusal(WorkflowStep(name: "s", type: .document))?.param == "steps[0].document")
        #expect(refusal(WorkflowStep(name: "s", type: .document, document: DocumentUpload(name: "", text: "t")))?.param == "steps[0].document.name")
        #expect(refusal(WorkflowStep(name: "s", type: .document, document: DocumentUpload(name: "n", text: "")))?.param == "steps[0].document.text")
        #expect(refusal(WorkflowStep(name: "s", type: .document, document: DocumentUpload(name: "n", text: "{{input.x}}")))?.param == "steps[0].document.text")
        // Metadata keys are checked when the spec is stored, its values (templates) when filled in.
        #expect(refusal(WorkflowStep(name: "s", type: .document, document: DocumentUpload(name: "n", text: "t", metadata: ["a key": "v"])))?.param
            == "steps[0].document.metadata")
        #expect(refusal(WorkflowStep(name: "s", type: .search, query: "q", filter: ["k": "{{input.x}}"]))?.param == "steps[0].filter.k")
        #expect(refusal(WorkflowStep(name: "s", type: .search, query: "q", filter: ["k": String(repeating: "{{steps.s.output}}", count: 1)]))?.param
            == "steps[0].filter.k")
        let labelled = WorkflowTemplate.document(DocumentUpload(name: "n", text: "t", metadata: ["k": "{{input.v}}"])) {
            WorkflowTemplate.fill($0, input: ["v": String(repeating: "v", count: 600)], outputs: [:], outputBytesAtMost: [:])
        }
        #expect(labelled.metadata?["k"]?.utf8.count == DocumentMetadata.maxValueBytes)
    }

    @Test func aRunsInputMustBeTheWorkflows() {
        #expect(throws: InvalidWorkflow(param: "input.question", message: "The workflow's input question is missing.")) { try spec.check(input: [:]) }
        #expect(throws: InvalidWorkflow(param: "input.x", message: "The workflow has no input x.")) { try spec.check(input: ["question": "q", "x": "y"]) }
        #expect(throws: Never.self) { try spec.check(input: ["question": "q"]) }
    }

    @Test func workflowsRunsAndTheirEventsRoundTrip() throws {
        let tenant = UUID()
        _ = try roundTrip(spec)
        _ = try roundTrip(Run(id: UUID(), workflowID: UUID(), status: .succeeded, input: ["question": "q"],
                              steps: [Run.Step(name: "find", status: .succeeded, output: "o", error: nil, attempts: 1, compensatedAt: Date().roundedToMilliseconds)],
                              output: "o", error: nil, createdAt: Date().roundedToMilliseconds, finishedAt: Date().roundedToMilliseconds))
        _ = try roundTrip(Envelope(tenantID: tenant, payload: RunRequested(runID: UUID(), workflowID: UUID())))
        _ = try roundTrip(Envelope(tenantID: tenant, payload: RunFinished(runID: UUID(), workflowID: UUID(), status: .failed, error: "Step x failed")))
        _ = try roundTrip(RunStartCall(tenantID: tenant, apiKeyID: nil, requestID: "req_1", workflowID: UUID(), input: [:], embeddingModel: "e"))
    }
}
