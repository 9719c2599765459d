import Contracts
import Foundation
import Subprocess

/// Why a PDF's text could not be read.
enum PDFReadFailure: Error, Equatable {
    /// The file is not a PDF poppler can open, or its owner forbids copying its text.
    case unreadable(String)
    /// Its text is longer than a document may hold.
    case tooLong
    /// Reading it took more time or memory than the reader allows.
    case pastLimits
    /// This machine cannot read PDFs (`pdftotext` is missing or cannot start).
    case unavailable(String)

    /// As `switchyard_ingestion_pdf_reads_total` counts it.
    var outcome: String {
        switch self {
        case .unreadable: "unreadable"
        case .tooLong: "too_long"
        case .pastLimits: "past_limits"
        case .unavailable: "unavailable"
        }
    }
}

/// Reads a PDF's text with poppler's `pdftotext` (Debian's poppler-utils), each file in a process
/// of its own held to a time, memory and output limit: a PDF is untrusted input, and a crafted
/// one cannot take the service down with it. The reader gets the file on its standard input, no
/// environment (the service's holds its secrets) and none of the service's open connections.
struct PDFReader: Sendable {
    /// `pdftotext`'s path.
    var executable: String
    var timeout: Duration
    /// The address space the reader may use.
    var memoryBytes = 1 << 30

    /// `pdftotext` where Debian installs it, or as `PATH` finds it.
    static func installed(timeout: Duration) -> PDFReader {
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/bin"]
        let found = directories.map { "\($0)/pdftotext" }.first { FileManager.default.isExecutableFile(atPath: $0) }
        return PDFReader(executable: found ?? "pdftotext", timeout: timeout)
    }

    func text(of pdf: Data) async throws(PDFReadFailure) -> String {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw .unavailable("\(executable) is not installed (Debian: poppler-utils)")
        }
        let seconds = Int(timeout.components.seconds)
        // prlimit (util-linux) bounds the reader's memory and CPU time before it reads the file.
        let arguments = Arguments(["--as=\(memoryBytes)", "--cpu=\(seconds)", "--", executable, "-q", "-enc", "UTF-8", "-nopgbrk", "-", "-"])
        let reading = Task {
            try await run(
                .path("/usr/bin/prlimit"), arguments: arguments, environment: .custom([:]), input: .data(pdf),
                output: .string(limit: DocumentLimits.maxTextBytes))
        }
        // Past the deadline the reader is cancelled, which kills its process.
        let deadline = Task {
            try await Task.sleep(for: timeout)
            reading.cancel()
        }
        defer { deadline.cancel() }
        let result: ExecutionResult<Void, StringOutput<UTF8>, DiscardedOutput>
        do {
            result = try await withTaskCancellationHandler { try await reading.value } onCancel: { reading.cancel() }
        } catch let error as SubprocessError where error.code == .outputLimitExceeded {
            throw .tooLong
        } catch {
            throw reading.isCancelled ? .pastLimits : .unavailable("pdftotext could not be run: \(error)")
        }
        switch result.terminationStatus {
        case .exited(0): return result.standardOutput
        case .exited(3): throw .unreadable("its owner does not allow its text to be copied")
        case .exited: throw .unreadable("it is not a PDF that can be read")
        // Killed at the deadline or by its CPU limit, or crashed short of memory.
        case .signaled: throw .pastLimits
        }
    }
}
