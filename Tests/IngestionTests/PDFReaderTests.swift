import Foundation
import Testing
@testable import IngestionService

@Suite struct PDFReaderTests {
    /// A machine without poppler-utils cannot read PDFs: said as such (the upload answers 503),
    /// not as an unreadable file (400).
    @Test func aMissingReaderIsUnavailableNotAnUnreadableFile() async {
        let reader = PDFReader(executable: "/nonexistent/pdftotext", timeout: .seconds(1))
        await #expect(throws: PDFReadFailure.unavailable("/nonexistent/pdftotext is not installed (Debian: poppler-utils)")) {
            try await reader.text(of: Data("%PDF-1.4\n".utf8))
        }
    }

    @Test func garbageIsUnreadable() async throws {
        let reader = PDFReader.installed(timeout: .seconds(10))
        try #require(FileManager.default.isExecutableFile(atPath: reader.executable), "pdftotext is not installed (make installs poppler-utils)")
        await #expect(throws: PDFReadFailure.unreadable("it is not a PDF that can be read")) {
            try await reader.text(of: Data("%PDF-1.4\nnothing more".utf8))
        }
    }
}
