import Foundation

/// What a workflow spec may hold, and how its texts are filled in: shared by the gateway, which
/// reserves a run's cost from it, and the orchestrator, which checks specs and carries out runs.
public enum WorkflowLimits {
    public static let maxSteps = 20
    public static let maxMaxTokens = 32_768
    public static let maxSearchLimit = 20
    public static let maxRetries = 5
    public static let maxInputBytes = 64 * 1024
    /// A chat step's reply, in bytes per token of its `max_tokens`, as a later step reads it:
    /// longer replies are cut there, so what a run is reserved at bounds what it can cost.
    public static let outputBytesPerToken = 8
}

/// A spec that cannot be run: the field and why.
public struct InvalidWorkflow: Error, Sendable, Equatable {
    public var param: String
    public var message: String

    public init(param: String, message: String) {
        self.param = param
        self.message = message
    }
}

/// One model call of a run at most: what the gateway reserves its cost at.
public struct WorkflowCallBound: Sendable, Equatable {
    /// Nil for a search step: the query is embedded with the installation's embedding model.
    public var model: String?
    /// Prompt bytes at most (tokens cannot outnumber bytes).
    public var promptBytes: Int
    public var completionTokens: Int

    public init(model: String?, promptBytes: Int, completionTokens: Int) {
        self.model = model
        self.promptBytes = promptBytes
        self.completionTokens = completionTokens
    }
}

extension WorkflowSpec {
    /// Throws `InvalidWorkflow` naming the first field that is wrong.
    public func check() throws(InvalidWorkflow) {
        func invalid(_ param: String, _ message: String) -> InvalidWorkflow { InvalidWorkflow(param: param, message: message) }
        guard (1...255).contains(name.unicodeScalars.count) else { throw invalid("name", "name must be 1 to 255 characters.") }
        // Specs are stored as JSON in PostgreSQL, whose text cannot hold U+0000.
        func checkText(_ text: String?, _ param: String) throws(InvalidWorkflow) {
            if let text, text.utf8.contains(0) { throw invalid(param, "\(param) must not contain the character U+0000.") }
        }
        try checkText(name, "name")
        for (index, input) in inputs.enumerated() where !Self.isName(input) {
            throw invalid("inputs[\(index)]", "An input's name must be 1 to 64 letters, digits, _ or -.")
        }
        guard Set(inputs).count == inputs.count else { throw invalid("inputs", "inputs must not name an input twice.") }
        guard (1...WorkflowLimits.maxSteps).contains(steps.count) else {
            throw invalid("steps", "steps must hold 1 to \(WorkflowLimits.maxSteps) steps.")
        }
        var earlier: Set<String> = []
        var texts: [(String, String)] = []
        // Metadata whose values are templates: its keys are checked now, its values when filled in.
        func labels(_ metadata: [String: String]?, _ param: String) throws(InvalidWorkflow) {
            guard let metadata else { return }
            if let problem = DocumentMetadata.problem(in: metadata, param: param, checkingValues: false) { throw invalid(problem.param, problem.message) }
            for key in metadata.keys.sorted() { texts.append(("\(param).\(key)", metadata[key]!)) }
        }
        for (index, step) in steps.enumerated() {
            let at = "steps[\(index)]"
            guard Self.isName(step.name) else { throw invalid("\(at).name", "A step's name must be 1 to 64 letters, digits, _ or -.") }
            guard !earlier.contains(step.name) else { throw invalid("\(at).name", "Another step is named \(step.name).") }
            if let retries = step.retries, !(0...WorkflowLimits.maxRetries).contains(retries) {
                throw invalid("\(at).retries", "retries must be from 0 to \(WorkflowLimits.maxRetries).")
            }
            try checkText(step.model, "\(at).model")
            texts = []
            switch step.type {
            case .chat:
                guard let model = step.model, !model.isEmpty else { throw invalid("\(at).model", "A chat step names its model.") }
                guard let messages = step.messages, !messages.isEmpty else { throw invalid("\(at).messages", "A chat step sends at least one message.") }
                for (number, message) in messages.enumerated() {
                    guard ["system", "developer", "user", "assistant"].contains(message.role) else {
                        throw invalid("\(at).messages[\(number)].role", "role must be system, developer, user or assistant.")
                    }
                    texts.append(("\(at).messages[\(number)].content", message.content))
                }
                guard let maxTokens = step.maxTokens, (1...WorkflowLimits.maxMaxTokens).contains(maxTokens) else {
                    throw invalid("\(at).max_tokens", "A chat step sets max_tokens, from 1 to \(WorkflowLimits.maxMaxTokens).")
                }
            case .search:
                guard let query = step.query, !query.isEmpty else { throw invalid("\(at).query", "A search step sets its query.") }
                texts.append(("\(at).query", query))
                if let limit = step.limit, !(1...WorkflowLimits.maxSearchLimit).contains(limit) {
                    throw invalid("\(at).limit", "limit must be from 1 to \(WorkflowLimits.maxSearchLimit).")
                }
                try labels(step.filter, "\(at).filter")
            case .document:
                guard let document = step.document else {
                    throw invalid("\(at).document", "A document step gives the document's name and text.")
                }
                guard !document.name.isEmpty else { throw invalid("\(at).document.name", "A document step names its document.") }
                guard let text = document.text, !text.isEmpty else {
                    throw invalid("\(at).document.text", "A document step sets its document's text.")
                }
                guard !document.type.isFile, document.data == nil else {
                    throw invalid("\(at).document.media_type", "A document step stores text: text/plain, text/markdown or text/html.")
                }
                texts.append(("\(at).document.name", document.name))
                texts.append(("\(at).document.text", text))
                try labels(document.metadata, "\(at).document.metadata")
            }
            for (param, text) in texts {
                try checkText(text, param)
                for reference in WorkflowTemplate.references(in: text) {
                    switch reference {
                    case .input(let input) where !inputs.contains(input):
                        throw invalid(param, "{{input.\(input)}} names no input of the workflow.")
                    case .output(let named) where !earlier.contains(named):
                        throw invalid(param, "{{steps.\(named).output}} names no earlier step.")
                    default:
                        continue
                    }
                }
            }
            earlier.insert(step.name)
        }
    }

    /// Throws `InvalidWorkflow` when `input` does not give every input, or gives others.
    public func check(input: [String: String]) throws(InvalidWorkflow) {
        for name in inputs where input[name] == nil {
            throw InvalidWorkflow(param: "input.\(name)", message: "The workflow's input \(name) is missing.")
        }
        if let extra = input.keys.sorted().first(where: { !inputs.contains($0) }) {
            throw InvalidWorkflow(param: "input.\(extra)", message: "The workflow has no input \(extra).")
        }
        guard input.values.reduce(0, { $0 + $1.utf8.count }) <= WorkflowLimits.maxInputBytes else {
            throw InvalidWorkflow(param: "input", message: "The input may be at most \(WorkflowLimits.maxInputBytes) bytes.")
        }
        if let name = input.keys.sorted().first(where: { input[$0]!.utf8.contains(0) }) {
            throw InvalidWorkflow(param: "input.\(name)", message: "input.\(name) must not contain the character U+0000.")
        }
    }

    /// The most each step's model call can take, for a run of this input: its texts filled in
    /// with the input, and with each earlier step's output at the most a later step reads of it.
    public func bounds(input: [String: String]) -> [WorkflowCallBound] {
        let outputBytes = outputBytesAtMost
        return steps.map { step in
            let size = { (text: String) in WorkflowTemplate.filledBytesAtMost(text, input: input, outputBytes: outputBytes) }
            switch step.type {
            case .chat:
                // The chat template adds a few tokens per message.
                let prompt = (step.messages ?? []).reduce(3) { $0 + 4 + size($1.content) }
                return WorkflowCallBound(model: step.model, promptBytes: prompt, completionTokens: step.maxTokens ?? 0)
            case .search:
                return WorkflowCallBound(model: nil, promptBytes: size(step.query ?? ""), completionTokens: 0)
            case .document:
                // Its chunks overlap: they embed up to twice its text (as an upload is reserved).
                let text = min(size(step.document?.text ?? ""), DocumentLimits.maxTextBytes)
                return WorkflowCallBound(model: nil, promptBytes: 2 * text, completionTokens: 0)
            }
        }
    }

    /// The most of each step's output a later step reads (`WorkflowTemplate.fill` cuts the rest).
    public var outputBytesAtMost: [String: Int] {
        Dictionary(steps.map { step in
            let bytes = switch step.type {
            case .chat: (step.maxTokens ?? 0) * WorkflowLimits.outputBytesPerToken
            case .search: WorkflowTemplate.searchOutputBytesAtMost(limit: step.limit ?? WorkflowTemplate.defaultSearchLimit)
            case .document: 36  // the document's id
            }
            return (step.name, bytes)
        }, uniquingKeysWith: { first, _ in first })
    }

    static func isName(_ text: String) -> Bool {
        (1...64).contains(text.utf8.count)
            && text.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "_" || $0 == "-") }
    }
}

/// `{{input.NAME}}` and `{{steps.NAME.output}}` in a step's texts.
public enum WorkflowTemplate {
    public enum Reference: Equatable {
        case input(String)
        case output(String)
    }

    public static let defaultSearchLimit = 5

    /// A search step's output, as later steps read it: the found chunks' texts, best first, a
    /// blank line between them.
    public static func searchOutput(_ texts: [String]) -> String { texts.joined(separator: "\n\n") }

    public static func searchOutputBytesAtMost(limit: Int) -> Int {
        limit * (DocumentLimits.maxChunkCharacters * 4 + 2)
    }

    /// A document step's document, its name, text and metadata filled in and cut to what a
    /// document may hold.
    public static func document(_ document: DocumentUpload, filling fill: (String) -> String) -> DocumentUpload {
        DocumentUpload(
            name: cut(fill(document.name), toBytes: DocumentLimits.maxNameLength),
            text: cut(fill(document.text ?? ""), toBytes: DocumentLimits.maxTextBytes), mediaType: document.mediaType,
            metadata: document.metadata.map { labels($0, filling: fill) })
    }

    /// Metadata (a document's, a search's filter) with its values filled in, cut to what a value
    /// may hold.
    public static func labels(_ metadata: [String: String], filling fill: (String) -> String) -> [String: String] {
        metadata.mapValues { cut(fill($0), toBytes: DocumentMetadata.maxValueBytes) }
    }

    public static func references(in text: String) -> [Reference] {
        pieces(of: text).compactMap { if case .reference(let reference) = $0 { reference } else { nil } }
    }

    /// The text with its references filled in; an output longer than `outputBytesAtMost` for its
    /// step is cut there (at a character's end).
    public static func fill(
        _ text: String, input: [String: String], outputs: [String: String], outputBytesAtMost: [String: Int]
    ) -> String {
        pieces(of: text).map { piece in
            switch piece {
            case .text(let text): return String(text)
            case .reference(.input(let name)): return input[name] ?? ""
            case .reference(.output(let step)):
                let output = outputs[step] ?? ""
                return cut(output, toBytes: outputBytesAtMost[step] ?? output.utf8.count)
            }
        }.joined()
    }

    /// The most bytes `text` can have once filled in.
    static func filledBytesAtMost(_ text: String, input: [String: String], outputBytes: [String: Int]) -> Int {
        pieces(of: text).reduce(0) { total, piece in
            switch piece {
            case .text(let text): total + text.utf8.count
            case .reference(.input(let name)): total + (input[name]?.utf8.count ?? 0)
            case .reference(.output(let step)): total + (outputBytes[step] ?? 0)
            }
        }
    }

    static func cut(_ text: String, toBytes limit: Int) -> String {
        guard text.utf8.count > limit else { return text }
        var bytes = 0
        var end = text.startIndex
        for index in text.indices {
            let size = text[index].utf8.count
            guard bytes + size <= limit else { break }
            bytes += size
            end = text.index(after: index)
        }
        return String(text[..<end])
    }

    enum Piece {
        case text(Substring)
        case reference(Reference)
    }

    /// The text between references, and the references; `{{…}}` that is neither is text.
    static func pieces(of text: String) -> [Piece] {
        var pieces: [Piece] = []
        var rest = text[...]
        while let open = rest.range(of: "{{") {
            guard let close = rest[open.upperBound...].range(of: "}}") else { break }
            let inside = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            let parts = inside.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            let reference: Reference? = switch parts.count {
            case 2 where parts[0] == "input": .input(parts[1])
            case 3 where parts[0] == "steps" && parts[2] == "output": .output(parts[1])
            default: nil
            }
            guard let reference else {
                pieces.append(.text(rest[..<close.upperBound]))
                rest = rest[close.upperBound...]
                continue
            }
            if open.lowerBound > rest.startIndex { pieces.append(.text(rest[..<open.lowerBound])) }
            pieces.append(.reference(reference))
            rest = rest[close.upperBound...]
        }
        if !rest.isEmpty { pieces.append(.text(rest)) }
        return pieces
    }
}
