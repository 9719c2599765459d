import Contracts
import Foundation
import SwitchyardRedis

/// A response kept for replay under an idempotency key.
struct StoredResponse: Codable, Sendable, Equatable {
    var status: Int
    var headers: [[String]]
    var body: Data
}

/// Idempotency keys in Redis, shared by every gateway replica: the first request with a key
/// claims it (for a lease as long as a request may take), runs, and stores its response for 24
/// hours; a later request with the same key and body gets that response again.
struct IdempotencyStore: Sendable {
    enum Claim: Equatable {
        /// Nobody has run this key: the caller runs the request.
        case claimed
        /// It ran and answered this.
        case completed(StoredResponse)
        /// Another request with this key is running now.
        case running
        /// The key was used with another request.
        case conflict
    }

    let redis: RedisClient

    /// Atomically: claims a free key, or reports what became of it.
    private static let claim = RedisScript("""
        if redis.call('EXISTS', KEYS[1]) == 0 then
          redis.call('HSET', KEYS[1], 'state', 'running', 'fingerprint', ARGV[1])
          redis.call('PEXPIRE', KEYS[1], ARGV[2])
          return {'claimed'}
        end
        local found = redis.call('HMGET', KEYS[1], 'state', 'fingerprint', 'response')
        if found[2] ~= ARGV[1] then return {'conflict'} end
        if found[1] == 'done' then return {'completed', found[3]} end
        return {'running'}
        """)

    func claim(_ key: String, fingerprint: String, lease: Duration) async throws -> Claim {
        let reply = try await redis.evaluate(Self.claim, keys: [key], arguments: [fingerprint, String(lease.milliseconds)])
        guard case .array(let values) = reply, let outcome = values.first?.text else {
            throw RedisError.server("unexpected reply from the idempotency script: \(reply)")
        }
        switch outcome {
        case "claimed": return .claimed
        case "running": return .running
        case "conflict": return .conflict
        default:
            guard values.count == 2, case .string(let data) = values[1] else { throw RedisError.server("no stored response under \(key)") }
            return .completed(try JSONCoding.decode(StoredResponse.self, from: data))
        }
    }

    /// Stores the response of a claimed key for `keep`.
    func complete(_ key: String, with response: StoredResponse, keep: Duration) async throws {
        try await redis.pipeline([
            ["HSET", key, "state", "done", "response", String(decoding: try JSONCoding.encode(response), as: UTF8.self)],
            ["PEXPIRE", key, String(keep.milliseconds)],
        ]).forEach { if case .error(let message) = $0 { throw RedisError.server(message) } }
    }

    /// Frees a claimed key whose request did not complete, so it may be sent again.
    func release(_ key: String) async {
        _ = try? await redis.command(["DEL", key])
    }
}
