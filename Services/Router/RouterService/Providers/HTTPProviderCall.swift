import AsyncHTTPClient
import Contracts
import Foundation
import NIOCore

/// What every HTTP provider does the same way: send with a read timeout, classify failures
/// for failover, read bodies.
enum HTTPProviderCall {
    /// Sends the request; a non-2xx answer throws with its status and `Retry-After`.
    static func execute(_ request: HTTPClientRequest, client: HTTPClient, timeout: TimeAmount, deployment: Deployment) async throws -> HTTPClientResponse {
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: timeout)
        } catch let error as HTTPClientError where error == .readTimeout || error == .deadlineExceeded {
            throw ProviderError(kind: .timeout, message: "\(deployment.name) did not answer in time")
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw ProviderError(kind: .connection, message: "\(deployment.name) could not be reached: \(error)")
        }
        guard (200..<300).contains(response.status.code) else {
            let detail = (try? await collect(response.body, limit: 4096)).map { String(buffer: $0) } ?? ""
            throw ProviderError(
                kind: .status(Int(response.status.code)),
                message: "\(deployment.name) answered \(response.status.code): \(detail.prefix(300))",
                retryAfterSeconds: response.headers.first(name: "retry-after").flatMap(Int.init))
        }
        return response
    }

    /// The whole body read as `T`; an answer that is not one is a `ProviderError` saying
    /// what `deployment` answered instead (`what`: "an unreadable completion").
    static func decode<T: Decodable>(_ type: T.Type, from response: HTTPClientResponse, deployment: Deployment, what: String) async throws -> T {
        let body = try await collect(response.body)
        do {
            return try JSONCoding.decode(type, from: Data(buffer: body))
        } catch {
            throw ProviderError(kind: .invalidResponse, message: "\(deployment.name) answered \(what): \(error)")
        }
    }

    static func collect(_ body: HTTPClientResponse.Body, limit: Int = 16 << 20) async throws -> ByteBuffer {
        do {
            return try await body.collect(upTo: limit)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw ProviderError(kind: .connection, message: "the answer broke off: \(error)")
        }
    }

    /// Hands each piece of the body to `handle` until it answers false (then returns false) or
    /// the body ends (then returns true). A broken connection is a `ProviderError`.
    static func forEachBuffer(of body: HTTPClientResponse.Body, _ handle: (ByteBuffer) throws -> Bool) async throws -> Bool {
        var iterator = body.makeAsyncIterator()
        while true {
            let next: ByteBuffer?
            do {
                next = try await iterator.next()
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                throw ProviderError(kind: .connection, message: "the stream broke off: \(error)")
            }
            guard let buffer = next else { return true }
            guard try handle(buffer) else { return false }
        }
    }
}

/// Splits a server-sent event stream into the `data:` payloads of its events. Works on the bytes:
/// the separators are ASCII, so the UTF-8 text between them is handed on undecoded.
struct ServerSentEventLines {
    /// The longest line an upstream may send: an event without an end is refused rather than
    /// held in memory for ever.
    static let lineLimit = 1 << 20

    private var pending = ByteBuffer()

    mutating func append(_ buffer: ByteBuffer) throws(ProviderError) -> [Data] {
        if pending.readableBytes == 0 {
            pending = buffer
        } else {
            var buffer = buffer
            pending.writeBuffer(&buffer)
        }
        var payloads: [Data] = []
        while let newline = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            var line = pending.readSlice(length: newline - pending.readerIndex)!
            pending.moveReaderIndex(forwardBy: 1)
            if line.readableBytesView.last == UInt8(ascii: "\r") { line.moveWriterIndex(to: line.writerIndex - 1) }
            guard line.readableBytesView.starts(with: Self.dataField) else { continue }
            line.moveReaderIndex(forwardBy: Self.dataField.count)
            let payload = line.readableBytesView.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
            payloads.append(Data(payload))
        }
        guard pending.readableBytes <= Self.lineLimit else {
            throw ProviderError(kind: .invalidResponse, message: "an event longer than \(Self.lineLimit) bytes")
        }
        pending.discardReadBytes()
        return payloads
    }

    private static let dataField = Array("data:".utf8)
}

extension Data {
    /// The `[DONE]` payload that ends an OpenAI stream.
    var isDoneMarker: Bool { elementsEqual("[DONE]".utf8) }

    /// The start of a payload, for an error message.
    var excerpt: String { String(decoding: prefix(200), as: UTF8.self) }
}
