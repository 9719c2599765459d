import Foundation

// `/v1/workflows` and `/v1/runs`, answered by the orchestrator: a tenant's workflows (steps
// that call models, search documents and store them, each reading the run's input and earlier
// steps' outputs) and their runs, carried out durably, a step at a time; a run that fails or is
// cancelled undoes what its steps stored.

public enum OrchestratorVerb {
    /// A `WorkflowCreateCall`, answered with the `Workflow`.
    public static let createWorkflow = "create_workflow"
    /// A `TenantCall`, answered with `ListOf<Workflow>`.
    public static let listWorkflows = "list_workflows"
    /// A `WorkflowCall`, answered with the `Workflow`.
    public static let showWorkflow = "show_workflow"
    /// A `WorkflowCall`, answered with a `WorkflowDeleted`.
    public static let deleteWorkflow = "delete_workflow"
    /// A `RunStartCall`, answered with the `Run` (status `queued`).
    public static let startRun = "start_run"
    /// A `RunCall`, answered with the `Run`.
    public static let showRun = "show_run"
    /// A `RunListCall`, answered with `ListOf<Run>`.
    public static let listRuns = "list_runs"
    /// A `RunCall`, answered with the `Run` (status `cancelled`).
    public static let cancelRun = "cancel_run"
}

/// What a workflow does: its inputs by name, then its steps in order.
public struct WorkflowSpec: Codable, Sendable, Equatable {
    public var name: String
    /// The names a run's `input` must give, each a string.
    public var inputs: [String]
    public var steps: [WorkflowStep]

    public init(name: String, inputs: [String], steps: [WorkflowStep]) {
        self.name = name
        self.inputs = inputs
        self.steps = steps
    }
}

/// One step. Its texts may name `{{input.NAME}}` and `{{steps.NAME.output}}` of an earlier
/// step; its output is the model's reply (`chat`), the found chunks' texts (`search`) or the
/// stored document's id (`document`).
public struct WorkflowStep: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case chat, search
        /// Stores a document and waits until it is indexed. A run that then fails or is
        /// cancelled deletes it again.
        case document
    }

    public var name: String
    public var type: Kind
    /// `chat`: the model and the messages sent, and the most tokens it may write.
    public var model: String?
    public var messages: [WorkflowMessage]?
    public var maxTokens: Int?
    /// `search`: the query, how many chunks, and the metadata of the documents searched
    /// (values are templates).
    public var query: String?
    public var limit: Int?
    public var filter: [String: String]?
    /// `document`: its name, text and metadata values (templates) and what the text is written in.
    public var document: DocumentUpload?
    /// Attempts after the first when a call fails in a way that may pass (2 by default).
    public var retries: Int?

    public init(
        name: String, type: Kind, model: String? = nil, messages: [WorkflowMessage]? = nil, maxTokens: Int? = nil,
        query: String? = nil, limit: Int? = nil, filter: [String: String]? = nil, document: DocumentUpload? = nil, retries: Int? = nil
    ) {
        self.name = name
        self.type = type
        self.model = model
        self.messages = messages
        self.maxTokens = maxTokens
        self.query = query
        self.limit = limit
        self.filter = filter
        self.document = document
        self.retries = retries
    }

    enum CodingKeys: String, CodingKey {
        case name, type, model, messages
        case maxTokens = "max_tokens"
        case query, limit, filter, document, retries
    }
}

public struct WorkflowMessage: Codable, Sendable, Equatable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

public struct Workflow: Codable, Sendable, Equatable {
    public var object = "workflow"
    public var id: UUID
    public var spec: WorkflowSpec
    public var createdAt: Date

    public init(id: UUID, spec: WorkflowSpec, createdAt: Date) {
        self.id = id
        self.spec = spec
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case object, id, spec
        case createdAt = "created_at"
    }
}

public struct WorkflowDeleted: Codable, Sendable, Equatable {
    public var object = "workflow.deleted"
    public var id: UUID
    public var deleted = true

    public init(id: UUID) { self.id = id }
}

public enum RunStatus: String, Codable, Sendable, CaseIterable {
    case queued, running, succeeded, failed, cancelled

    /// Whether the run has ended, one way or another.
    public var isFinal: Bool { self == .succeeded || self == .failed || self == .cancelled }
}

/// A run of a workflow: its input, each step's result so far, and its output (the last step's).
public struct Run: Codable, Sendable, Equatable {
    public struct Step: Codable, Sendable, Equatable {
        public var name: String
        public var status: RunStatus
        public var output: String?
        public var error: String?
        public var attempts: Int
        /// When what the step stored was deleted again, the run having failed or been cancelled.
        public var compensatedAt: Date?

        public init(name: String, status: RunStatus, output: String?, error: String?, attempts: Int, compensatedAt: Date? = nil) {
            self.name = name
            self.status = status
            self.output = output
            self.error = error
            self.attempts = attempts
            self.compensatedAt = compensatedAt
        }

        enum CodingKeys: String, CodingKey {
            case name, status, output, error, attempts
            case compensatedAt = "compensated_at"
        }
    }

    public var object = "workflow.run"
    public var id: UUID
    public var workflowID: UUID
    public var status: RunStatus
    public var input: [String: String]
    public var steps: [Step]
    public var output: String?
    public var error: String?
    public var createdAt: Date
    public var finishedAt: Date?

    public init(
        id: UUID, workflowID: UUID, status: RunStatus, input: [String: String], steps: [Step], output: String?, error: String?,
        createdAt: Date, finishedAt: Date?
    ) {
        self.id = id
        self.workflowID = workflowID
        self.status = status
        self.input = input
        self.steps = steps
        self.output = output
        self.error = error
        self.createdAt = createdAt
        self.finishedAt = finishedAt
    }

    enum CodingKeys: String, CodingKey {
        case object, id
        case workflowID = "workflow_id"
        case status, input, steps, output, error
        case createdAt = "created_at"
        case finishedAt = "finished_at"
    }
}

/// `POST /v1/workflows/{id}/runs`.
public struct RunRequest: Codable, Sendable, Equatable {
    public var input: [String: String]

    public init(input: [String: String]) { self.input = input }
}

public struct WorkflowCreateCall: Codable, Sendable, Equatable {
    public var tenantID: UUID
    public var spec: WorkflowSpec

    public init(tenantID: UUID, spec: WorkflowSpec) {
        self.tenantID = tenantID
        self.spec = spec
    }

    enum CodingKeys: String, CodingKey {
        case tenantID = "tenant_id"
        case spec
    }
}

public struct TenantCall: Codable, Sendable, Equatable {
    public var tenantID: UUID

    public init(tenantID: UUID) { self.tenantID = tenantID }

    enum CodingKeys: String, CodingKey { case tenantID = "tenant_id" }
}

public struct WorkflowCall: Codable, Sendable, Equatable {
    public var tenantID: UUID
    public var workflowID: UUID

    public init(tenantID: UUID, workflowID: UUID) {
        self.tenantID = tenantID
        self.workflowID = workflowID
    }

    enum CodingKeys: String, CodingKey {
        case tenantID = "tenant_id"
        case workflowID = "workflow_id"
    }
}

/// A run to start, for the caller named by its key: its steps' calls are charged to it.
public struct RunStartCall: Codable, Sendable, Equatable {
    public var tenantID: UUID
    public var apiKeyID: UUID?
    /// The request that started it: each step's calls are recorded under it and the step's name.
    public var requestID: String
    public var workflowID: UUID
    public var input: [String: String]
    /// What its search steps embed queries with (the gateway's setting).
    public var embeddingModel: String

    public init(tenantID: UUID, apiKeyID: UUID?, requestID: String, workflowID: UUID, input: [String: String], embeddingModel: String) {
        self.tenantID = tenantID
        self.apiKeyID = apiKeyID
        self.requestID = requestID
        self.workflowID = workflowID
        self.input = input
        self.embeddingModel = embeddingModel
    }

    enum CodingKeys: String, CodingKey {
        case tenantID = "tenant_id"
        case apiKeyID = "api_key_id"
        case requestID = "request_id"
        case workflowID = "workflow_id"
        case input
        case embeddingModel = "embedding_model"
    }
}

public struct RunCall: Codable, Sendable, Equatable {
    public var tenantID: UUID
    public var runID: UUID

    public init(tenantID: UUID, runID: UUID) {
        self.tenantID = tenantID
        self.runID = runID
    }

    enum CodingKeys: String, CodingKey {
        case tenantID = "tenant_id"
        case runID = "run_id"
    }
}

/// The tenant's latest runs, newest first: of one workflow when given.
public struct RunListCall: Codable, Sendable, Equatable {
    public var tenantID: UUID
    public var workflowID: UUID?
    public var limit: Int

    public init(tenantID: UUID, workflowID: UUID?, limit: Int) {
        self.tenantID = tenantID
        self.workflowID = workflowID
        self.limit = limit
    }

    enum CodingKeys: String, CodingKey {
        case tenantID = "tenant_id"
        case workflowID = "workflow_id"
        case limit
    }
}

/// A run was stored: the orchestrator's consumer carries it out.
public struct RunRequested: EventPayload {
    public static let eventType = EventType(domain: "run", name: "requested")
    public static let version = 1
    public var runID: UUID
    public var workflowID: UUID

    public init(runID: UUID, workflowID: UUID) {
        self.runID = runID
        self.workflowID = workflowID
    }

    enum CodingKeys: String, CodingKey {
        case runID = "run_id"
        case workflowID = "workflow_id"
    }
}

/// A run ended: `succeeded` with its output, `failed` with the step and reason, or `cancelled`.
public struct RunFinished: EventPayload {
    public static let eventType = EventType(domain: "run", name: "finished")
    public static let version = 1
    public var runID: UUID
    public var workflowID: UUID
    public var status: RunStatus
    public var error: String?

    public init(runID: UUID, workflowID: UUID, status: RunStatus, error: String?) {
        self.runID = runID
        self.workflowID = workflowID
        self.status = status
        self.error = error
    }

    enum CodingKeys: String, CodingKey {
        case runID = "run_id"
        case workflowID = "workflow_id"
        case status, error
    }
}
