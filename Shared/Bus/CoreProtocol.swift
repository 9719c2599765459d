import Foundation
import NIOCore
import NIOFoundationCompat

/// What a NATS server sends a client, read off the wire by `CoreProtocolDecoder`.
enum ServerOperation {
    case info(ServerInfo)
    /// A message for subscription `sid`.
    case message(NATSMessage, sid: UInt64)
    case ping
    case pong
    case ok
    case error(String)
}

/// The part of the server's `INFO` the client uses.
struct ServerInfo: Decodable {
    var maxPayload: Int?
    var headers: Bool?
    var tlsRequired: Bool?

    enum CodingKeys: String, CodingKey {
        case maxPayload = "max_payload"
        case headers
        case tlsRequired = "tls_required"
    }
}

/// A protocol line the client could not read: the connection is closed and made again.
struct CoreProtocolError: Error, CustomStringConvertible {
    var description: String
}

/// Splits the server's byte stream into operations (https://docs.nats.io/reference/reference-protocols/nats-protocol).
///
/// A control line ends with CRLF; `MSG` and `HMSG` are followed by their headers and payload
/// and another CRLF. A message is decoded only when all of it has arrived.
struct CoreProtocolDecoder: ByteToMessageDecoder {
    typealias InboundOut = ServerOperation

    /// Longer control lines are an error rather than a reason to buffer for ever.
    static let maxControlLine = 64 * 1024

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let operation = try Self.next(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(operation))
        return .continue
    }

    /// The next whole operation at the start of `buffer`, consuming it; nil (consuming nothing)
    /// while it has not fully arrived.
    static func next(from buffer: inout ByteBuffer) throws -> ServerOperation? {
        guard let lineEnd = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > maxControlLine { throw CoreProtocolError(description: "control line too long") }
            return nil
        }
        let lineLength = lineEnd - buffer.readerIndex + 1
        let fields = ControlLine(buffer.readableBytesView.prefix(lineLength))
        switch fields.verb {
        case "MSG", "HMSG":
            let isHeaded = fields.verb == "HMSG"
            // MSG <subject> <sid> [reply-to] <#bytes>; HMSG adds <#header bytes> before <#total bytes>.
            let minimum = isHeaded ? 5 : 4
            guard fields.count == minimum || fields.count == minimum + 1 else {
                throw CoreProtocolError(description: "unreadable \(fields.verb) line")
            }
            let total = try fields.number(at: fields.count - 1)
            let headerLength = isHeaded ? try fields.number(at: fields.count - 2) : 0
            guard headerLength <= total else { throw CoreProtocolError(description: "header longer than message") }
            guard buffer.readableBytes >= lineLength + total + 2 else { return nil }
            let subject = fields.string(at: 1)
            let sid = UInt64(try fields.number(at: 2))
            let replyTo = fields.count == minimum + 1 ? fields.string(at: 3) : nil
            buffer.moveReaderIndex(forwardBy: lineLength)
            var headers: [String: String] = [:]
            if headerLength > 0, let block = buffer.readSlice(length: headerLength) {
                headers = parseHeaders(block)
            }
            let payload = buffer.readData(length: total - headerLength) ?? Data()
            guard buffer.readInteger(as: UInt16.self) == 0x0D0A else {
                throw CoreProtocolError(description: "\(subject): the message is longer than its announced \(total) bytes")
            }
            return .message(NATSMessage(subject: subject, replyTo: replyTo, headers: headers, payload: payload), sid: sid)
        case "PING":
            buffer.moveReaderIndex(forwardBy: lineLength)
            return .ping
        case "PONG":
            buffer.moveReaderIndex(forwardBy: lineLength)
            return .pong
        case "+OK":
            buffer.moveReaderIndex(forwardBy: lineLength)
            return .ok
        case "-ERR":
            let text = fields.rest(after: 0).trimmingCharacters(in: CharacterSet(charactersIn: "' "))
            buffer.moveReaderIndex(forwardBy: lineLength)
            return .error(text)
        case "INFO":
            let json = Data(fields.rest(after: 0).utf8)
            buffer.moveReaderIndex(forwardBy: lineLength)
            return .info((try? JSONDecoder().decode(ServerInfo.self, from: json)) ?? ServerInfo())
        default:
            throw CoreProtocolError(description: "unknown operation \(fields.verb.prefix(16))")
        }
    }

    /// `NATS/1.0[ <status>[ <description>]]` then `Name: value` lines. A status line becomes
    /// the `Status` (and `Description`) header, as the C client reports it.
    static func parseHeaders(_ block: ByteBuffer) -> [String: String] {
        var headers: [String: String] = [:]
        let space = UInt8(ascii: " ")
        var lines = block.readableBytesView.split(separator: UInt8(ascii: "\n")).lazy
            .map { $0.last == UInt8(ascii: "\r") ? $0.dropLast() : $0 }
            .filter { !$0.isEmpty }.makeIterator()
        guard let statusLine = lines.next(), statusLine.starts(with: Self.headerVersion) else { return headers }
        let status = statusLine.dropFirst(Self.headerVersion.count).drop { $0 == space }
        if !status.isEmpty {
            let parts = status.split(separator: space, maxSplits: 1)
            headers["Status"] = String(decoding: parts[0], as: UTF8.self)
            if parts.count > 1 { headers["Description"] = String(decoding: parts[1], as: UTF8.self) }
        }
        while let line = lines.next() {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            let name = String(decoding: line[..<colon], as: UTF8.self)
            let value = line[line.index(after: colon)...].drop { $0 == space }
            if headers[name] == nil { headers[name] = String(decoding: value, as: UTF8.self) }  // the first value, as the C client's lookup returns
        }
        return headers
    }

    private static let headerVersion = Array("NATS/1.0".utf8)
}

/// The space-separated fields of one control line, without its CRLF.
private struct ControlLine {
    private let bytes: [UInt8]
    private var ranges: [Range<Int>] = []
    /// The first field in capitals: `MSG`, `PING`, …
    private(set) var verb = ""

    init(_ line: ByteBufferView) {
        var bytes = Array(line)
        while let last = bytes.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") { bytes.removeLast() }
        self.bytes = bytes
        var start: Int?
        for index in bytes.indices {
            let isSpace = bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\t")
            if isSpace, let begun = start {
                ranges.append(begun..<index)
                start = nil
            } else if !isSpace, start == nil {
                start = index
            }
        }
        if let start { ranges.append(start..<bytes.count) }
        if !ranges.isEmpty { verb = string(at: 0).uppercased() }
    }

    var count: Int { ranges.count }

    func string(at index: Int) -> String {
        String(decoding: bytes[ranges[index]], as: UTF8.self)
    }

    func number(at index: Int) throws -> Int {
        var value = 0
        for byte in bytes[ranges[index]] {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), value < Int.max / 10 - 9 else {
                throw CoreProtocolError(description: "not a number: \(string(at: index))")
            }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }

    /// Everything after field `index`, as sent.
    func rest(after index: Int) -> String {
        guard index + 1 < ranges.count else { return "" }
        return String(decoding: bytes[ranges[index + 1].lowerBound...], as: UTF8.self)
    }
}

/// Writes the client's side of the protocol.
enum CoreProtocolEncoder {
    static let crlf: StaticString = "\r\n"

    /// `PUB`, or `HPUB` when the message has headers, with its payload.
    static func writePublish(_ message: NATSMessage, into buffer: inout ByteBuffer) {
        let headerLength = headerBlockLength(message.headers)
        buffer.writeString(headerLength == 0 ? "PUB " : "HPUB ")
        buffer.writeString(message.subject)
        if let replyTo = message.replyTo {
            buffer.writeInteger(UInt8(ascii: " "))
            buffer.writeString(replyTo)
        }
        buffer.writeInteger(UInt8(ascii: " "))
        if headerLength > 0 {
            buffer.writeString(String(headerLength))
            buffer.writeInteger(UInt8(ascii: " "))
        }
        buffer.writeString(String(headerLength + message.payload.count))
        buffer.writeStaticString(crlf)
        if headerLength > 0 {
            buffer.writeStaticString("NATS/1.0\r\n")
            for (name, value) in message.headers {
                buffer.writeString(name)
                buffer.writeStaticString(": ")
                buffer.writeString(value)
                buffer.writeStaticString(crlf)
            }
            buffer.writeStaticString(crlf)
        }
        buffer.writeData(message.payload)
        buffer.writeStaticString(crlf)
    }

    /// Bytes of the header block `HPUB` announces; 0 for none.
    static func headerBlockLength(_ headers: [String: String]) -> Int {
        guard !headers.isEmpty else { return 0 }
        return headers.reduce("NATS/1.0\r\n".utf8.count + 2) { $0 + $1.key.utf8.count + 2 + $1.value.utf8.count + 2 }
    }

    static func writeSubscribe(subject: String, queue: String?, sid: UInt64, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("SUB ")
        buffer.writeString(subject)
        if let queue {
            buffer.writeInteger(UInt8(ascii: " "))
            buffer.writeString(queue)
        }
        buffer.writeInteger(UInt8(ascii: " "))
        buffer.writeString(String(sid))
        buffer.writeStaticString(crlf)
    }

    static func writeUnsubscribe(sid: UInt64, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("UNSUB ")
        buffer.writeString(String(sid))
        buffer.writeStaticString(crlf)
    }

    /// A subject or queue name the server would split or refuse: empty, or with white space.
    static func isValidToken(_ text: String) -> Bool {
        !text.isEmpty && !text.utf8.contains { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n") }
    }

    /// A header that would break the header block: a name with a colon or white space, or a
    /// line break anywhere.
    static func isValidHeader(name: String, value: String) -> Bool {
        isValidToken(name) && !name.utf8.contains(UInt8(ascii: ":"))
            && !value.utf8.contains { $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n") }
    }
}
