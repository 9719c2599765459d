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
///
/// A claim names the request that holds it (its request id). Storing a response and freeing a
/// key act only on the claim the request still holds: when a request outlived its lease and
/// another took the key, the first one's end neither frees nor overwrites the second's claim.
/// When nobody took it, the late response is stored all the same: its caller has it.
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

    /// Atomically: claims a free key for the request `ARGV[3]`, or reports what became of it.
    private static let claim = RedisScript("""
        if redis.call('EXISTS', KEYS[1]) == 0 then
          redis.call('HSET', KEYS[1], 'state', 'running', 'fingerprint', ARGV[1], 'owner', ARGV[3])
          redis.call('PEXPIRE', KEYS[1], ARGV[2])
          return {'claimed'}
        end
        local found = redis.call('HMGET', KEYS[1], 'state', 'fingerprint', 'response')
        if found[2] ~= ARGV[1] then return {'conflict'} end
        if found[1] == 'done' then return {'completed', found[3]} end
        return {'running'}
        """)

    /// Stores the response (`ARGV[2]`, for `ARGV[3]` ms) of the request `ARGV[1]` with its
    /// fingerprint `ARGV[4]`, unless another request holds the key. Returns 1 when it stored it.
    private static let complete = RedisScript("""
        if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
        redis.call('HSET', KEYS[1], 'state', 'done', 'fingerprint', ARGV[4], 'owner', ARGV[1], 'response', ARGV[2])
        redis.call('PEXPIRE', KEYS[1], ARGV[3])
        return 1
        """)

    /// Frees the key if the request `ARGV[1]` still holds its claim.
    private static let release = RedisScript("""
        local found = redis.call('HMGET', KEYS[1], 'state', 'owner')
        if found[1] == 'running' and found[2] == ARGV[1] then redis.call('DEL', KEYS[1]) end
        return 0
        """)

    func claim(_ key: String, fingerprint: String, for request: String, lease: Duration) async throws -> Claim {
        let reply = try await redis.evaluate(Self.claim, keys: [key], arguments: [fingerprint, String(lease.milliseconds), request])
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

    /// Stores the response of the key `request` claimed, for `keep`. False when another request
    /// holds the key (the first one's lease ran out): nothing is stored.
    func complete(_ key: String, fingerprint: String, for request: String, with response: StoredResponse, keep: Duration) async throws -> Bool {
        let reply = try await redis.evaluate(
            Self.complete, keys: [key],
            arguments: [request, String(decoding: try JSONCoding.encode(response), as: UTF8.self), String(keep.milliseconds), fingerprint])
        return reply.integer == 1
    }

    /// Frees the key `request` claimed and did not complete, so it may be sent again.
    func release(_ key: String, for request: String) async {
        _ = try? await redis.evaluate(Self.release, keys: [key], arguments: [request])
    }
}
