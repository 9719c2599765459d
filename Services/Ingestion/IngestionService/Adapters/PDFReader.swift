import Contracts
import Foundation

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
}

/// Reads a PDF's text with poppler's `pdftotext` (Debian's poppler-utils), each file in a process
/// of its own held to a time, memory and output limit: a PDF is untrusted input, and a crafted
/// one cannot take the service down with it. The process is waited for on a Dispatch thread, not
/// on the cooperative pool.
struct PDFReader: Sendable {
    /// `pdftotext`'s path.
    var executable: String
    var timeout: Duration = .seconds(20)
    /// The address space the reader may use.
    var memoryBytes = 1 << 30

    /// `pdftotext` where Debian installs it, or as `PATH` finds it.
    static func installed() -> PDFReader {
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/bin"]
        let found = directories.map { "\($0)/pdftotext" }.first { FileManager.default.isExecutableFile(atPath: $0) }
        return PDFReader(executable: found ?? "pdftotext")
    }

    func text(of pdf: Data) async throws(PDFReadFailure) -> String {
        let result = await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: read(pdf)) }
        }
        return try result.get()
    }

    private func read(_ pdf: Data) -> Result<String, PDFReadFailure> {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("switchyard-\(UUID()).pdf")
        defer { try? FileManager.default.removeItem(at: file) }
        do { try pdf.write(to: file) } catch { return .failure(.unavailable("the file could not be written for reading: \(error)")) }

        guard FileManager.default.isExecutableFile(atPath: executable) else {
            return .failure(.unavailable("\(executable) is not installed (Debian: poppler-utils)"))
        }
        let process = Process()
        // prlimit (util-linux) bounds the reader's memory and CPU before it opens the file.
        process.executableURL = URL(fileURLWithPath: "/usr/bin/prlimit")
        let seconds = Int(timeout.components.seconds)
        process.arguments = [
            "--as=\(memoryBytes)", "--cpu=\(seconds)", "--", executable, "-q", "-enc", "UTF-8", "-nopgbrk", file.path, "-",
        ]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch { return .failure(.unavailable("pdftotext could not be started: \(error)")) }

        // SIGKILL: the reader is spawned from a Dispatch thread and inherits its mask, which
        // blocks SIGTERM (`Process.terminate()`).
        let stop = { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let deadline = DispatchWorkItem(block: stop)
        DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(seconds), execute: deadline)
        var text = Data()
        var tooLong = false
        let reader = output.fileHandleForReading
        while true {
            let chunk = reader.availableData
            guard !chunk.isEmpty else { break }
            text.append(chunk)
            if text.count > DocumentLimits.maxTextBytes {
                tooLong = true
                stop()
                break
            }
        }
        process.waitUntilExit()
        deadline.cancel()

        if tooLong { return .failure(.tooLong) }
        // Stopped at the deadline, by its CPU limit, or crashed short of memory.
        if process.terminationReason == .uncaughtSignal { return .failure(.pastLimits) }
        switch process.terminationStatus {
        case 0: return .success(String(decoding: text, as: UTF8.self))
        case 3: return .failure(.unreadable("its owner does not allow its text to be copied"))
        default: return .failure(.unreadable("it is not a PDF that can be read"))
        }
    }
}
