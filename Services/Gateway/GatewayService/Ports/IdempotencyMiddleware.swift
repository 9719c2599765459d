import Contracts
import Crypto
import Foundation
import Hummingbird
import HTTPTypes
import Logging
import NIOCore
import Synchronization

/// `Idempotency-Key` on POST: the same key and body within 24 hours answer the stored response
/// again (with `Idempotent-Replayed: true`), the same key with another body answers 409, and a
/// duplicate sent while the first still runs waits for its answer rather than running twice.
///
/// Only successful responses are kept: a request that failed (4xx, 5xx, a refused quota) or
/// whose client left mid-stream frees its key, so it can be sent again.
struct IdempotencyMiddleware: RouterMiddleware {
    typealias Context = GatewayContext

    let store: IdempotencyStore
    let maxBodyBytes: Int
    /// How long a claimed key is held while its request runs: past it, a crashed gateway's claim lapses.
    let lease: Duration
    /// How long a duplicate waits for the first request's answer before it is refused.
    let waitLimit: Duration
    static let keep = Duration.seconds(24 * 3600)

    func handle(_ request: Request, context: GatewayContext, next: (Request, GatewayContext) async throws -> Response) async throws -> Response {
        guard request.method == .post, let presented = request.headers[.idempotencyKey] else {
            return try await next(request, context)
        }
        guard (1...255).contains(presented.utf8.count), presented.utf8.allSatisfy({ $0 >= 0x21 && $0 < 0x7F }) else {
            throw APIError(.invalidRequest, "Idempotency-Key must be 1 to 255 visible ASCII characters.", code: "invalid_header", param: "Idempotency-Key")
        }
        var request = request
        let body = try await collect(&request)
        let caller = try context.requireCaller()
        let scope = caller.tenantID.map { "sy:{\(Subject.token($0))}" } ?? "sy:{operator}"
        let key = "\(scope):idempotency:\(Self.hex(SHA256.hash(data: Data(presented.utf8))))"
        var fingerprintInput = Data("\(request.method.rawValue) \(request.uri.path)\n".utf8)
        fingerprintInput.append(contentsOf: body.readableBytesView)
        let fingerprint = Self.hex(SHA256.hash(data: fingerprintInput))

        let waitUntil = ContinuousClock.now + waitLimit
        while true {
            let claim: IdempotencyStore.Claim
            do {
                claim = try await store.claim(key, fingerprint: fingerprint, for: context.requestID, lease: lease)
            } catch {
                // Running it without the key could run it twice: refuse instead.
                context.logger.error("idempotency store unreachable", metadata: ["error": "\(error)"])
                throw APIError(.serviceUnavailable, "Idempotency keys cannot be checked right now; please retry.",
                               code: "idempotency_store_unavailable", headers: [.retryAfter: "1"])
            }
            switch claim {
            case .claimed:
                return try await run(request, context: context, key: key, fingerprint: fingerprint, next: next)
            case .completed(let stored):
                return Self.replay(stored)
            case .conflict:
                throw APIError(.conflict, "This Idempotency-Key was used with a different request.",
                               code: "idempotency_key_reused", param: "Idempotency-Key", status: .conflict)
            case .running:
                guard ContinuousClock.now < waitUntil else {
                    throw APIError(.conflict, "A request with this Idempotency-Key is still running; retry after it ends.",
                                   code: "idempotency_request_in_progress", param: "Idempotency-Key", status: .conflict,
                                   headers: [.retryAfter: "1"])
                }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    private func run(_ request: Request, context: GatewayContext, key: String, fingerprint: String, next: (Request, GatewayContext) async throws -> Response) async throws -> Response {
        let requestID = context.requestID
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            await store.release(key, for: requestID)
            throw error
        }
        guard (200..<300).contains(response.status.code) else {
            await store.release(key, for: requestID)
            return response
        }
        let original = response.body
        let status = response.status.code
        let headers = response.headers.map { [$0.name.rawName, $0.value] }
        let (store, keep) = (self.store, Self.keep)
        let logger = context.logger
        response.body = ResponseBody(contentLength: original.contentLength) { writer in
            let captured = Mutex(ByteBuffer())
            do {
                try await original.map { buffer in
                    captured.withLock { var copy = buffer; $0.writeBuffer(&copy) }
                    return buffer
                }.write(writer)
            } catch {
                await store.release(key, for: requestID)
                throw error
            }
            let body = captured.withLock { Data(buffer: $0) }
            do {
                let response = StoredResponse(status: status, headers: headers, body: body)
                if try await !store.complete(key, fingerprint: fingerprint, for: requestID, with: response, keep: keep) {
                    // It outlived its lease and another request with the key runs now: that
                    // one's answer is the one kept.
                    logger.warning("idempotent response not stored: the key's lease ran out before the request ended")
                }
            } catch {
                // The answer reached the caller; a retry would run it again. Say so loudly.
                logger.error("could not store an idempotent response", metadata: ["error": "\(error)"])
                await store.release(key, for: requestID)
            }
        }
        return response
    }

    private func collect(_ request: inout Request) async throws -> ByteBuffer {
        do {
            return try await request.collectBody(upTo: maxBodyBytes)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw APIError.bodyTooLarge(maxBodyBytes)
        } catch is NIOTooManyBytesError {
            // What collecting a body that arrives in several parts throws.
            throw APIError.bodyTooLarge(maxBodyBytes)
        }
    }

    static func replay(_ stored: StoredResponse) -> Response {
        var headers = HTTPFields()
        for pair in stored.headers where pair.count == 2 {
            if let name = HTTPField.Name(pair[0]), name != .requestID { headers.append(HTTPField(name: name, value: pair[1])) }
        }
        headers[.idempotentReplayed] = "true"
        return Response(status: HTTPResponse.Status(code: stored.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: stored.body)))
    }

    private static func hex(_ digest: SHA256.Digest) -> String {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}
