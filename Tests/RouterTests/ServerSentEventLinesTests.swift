import Foundation
import NIOCore
import Testing

@testable import RouterService

@Suite struct ServerSentEventLinesTests {
    static let stream = "event: message_start\r\ndata: {\"text\":\"Grüße 🚢\"}\r\n\r\n: a comment\ndata:{\"n\":2}\n\nid: 7\ndata: [DONE]\n\n"
    static let payloads = [#"{"text":"Grüße 🚢"}"#, #"{"n":2}"#, "[DONE]"]

    @Test func givesTheDataOfEachEventAndSkipsOtherFields() throws {
        var lines = ServerSentEventLines()
        let payloads = try lines.append(ByteBuffer(string: Self.stream))
        #expect(payloads.map { String(decoding: $0, as: UTF8.self) } == Self.payloads)
        #expect(payloads.last?.isDoneMarker == true && payloads.first?.isDoneMarker == false)
    }

    /// An upstream's bytes arrive in pieces of any size, also inside a line, a CRLF or a
    /// character of several bytes.
    @Test func givesTheSamePayloadsHoweverTheStreamIsCut() throws {
        let bytes = Array(Self.stream.utf8)
        for cut in 1..<bytes.count {
            var lines = ServerSentEventLines()
            let payloads = try lines.append(ByteBuffer(bytes: bytes[..<cut])) + lines.append(ByteBuffer(bytes: bytes[cut...]))
            #expect(payloads.map { String(decoding: $0, as: UTF8.self) } == Self.payloads, "cut at byte \(cut)")
        }
        var lines = ServerSentEventLines()
        let oneByOne = try bytes.flatMap { try lines.append(ByteBuffer(bytes: [$0])) }
        #expect(oneByOne.map { String(decoding: $0, as: UTF8.self) } == Self.payloads)
    }

    @Test func refusesALineWithoutEnd() throws {
        var lines = ServerSentEventLines()
        let piece = ByteBuffer(repeating: UInt8(ascii: "x"), count: 64 << 10)
        #expect(throws: ProviderError.self) {
            for _ in 0...(ServerSentEventLines.lineLimit / piece.readableBytes) { _ = try lines.append(piece) }
        }
    }
}
