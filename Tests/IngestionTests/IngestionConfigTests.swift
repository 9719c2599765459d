import IngestionService
import SwitchyardRuntime
import Testing

@Suite struct IngestionConfigTests {
    @Test func aPDFsReadingFitsInTheGatewaysWait() async throws {
        let set = try IngestionConfig(settings: try await Settings.load(environment: ["SWITCHYARD_INGESTION_PDF_TIMEOUT": "5s"]))
        #expect(set.pdfTimeout == .seconds(5))
        #expect(try IngestionConfig(settings: try await Settings.load(environment: [:])).pdfTimeout == .seconds(20))
        let tooLong = try await Settings.load(environment: ["SWITCHYARD_INGESTION_PDF_TIMEOUT": "30s"])
        #expect(throws: ConfigError(variable: "SWITCHYARD_INGESTION_PDF_TIMEOUT", reason: "must be from 1s to 20s")) {
            try IngestionConfig(settings: tooLong)
        }
    }
}
