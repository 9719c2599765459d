import CHiredis
import Crypto
import Foundation
import Logging
import NIOPosix
import Synchronization

/// A Redis reply copied out of hiredis.
public enum RedisValue: Sendable, Equatable {
    case string(Data)
    case status(String)
    case integer(Int64)
    case array([RedisValue])
    case null
    /// An error reply inside a pipeline (a single command throws `RedisError.server` instead).
    case error(String)

    public var text: String? {
        switch self {
        case .string(let data): String(decoding: data, as: UTF8.self)
        case .status(let text): text
        case .integer(let value): String(value)
        default: nil
        }
    }

    public var integer: Int64? {
        switch self {
        case .integer(let value): value
        case .string, .status: text.flatMap { Int64($0) }
        default: nil
        }
    }
}

public enum RedisError: Error, CustomStringConvertible, Equatable {
    case unreachable(url: String, reason: String)
    case connectionLost(String)
    case server(String)
    case invalidURL(String)
    case closed

    public var description: String {
        switch self {
        case .unreachable(let url, let reason): "Redis is not reachable at \(url): \(reason)"
        case .connectionLost(let reason): "lost the connection to Redis: \(reason)"
        case .server(let message): "Redis answered an error: \(message)"
        case .invalidURL(let reason): "invalid Redis URL: \(reason)"
        case .closed: "the Redis client is closed"
        }
    }
}

/// A Lua script run with EVALSHA; loaded on the first NOSCRIPT (a new or flushed server).
public struct RedisScript: Sendable {
    public let source: String
    public let sha1: String

    public init(_ source: String) {
        self.source = source
        self.sha1 = Insecure.SHA1.hash(data: Data(source.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}

/// A pool of hiredis connections. hiredis blocks and a context serves one thread at a time, so
/// every command runs on one of the client's own threads, each taking an idle connection (or
/// opening one); a connection that failed is dropped and the next command opens a new one.
public final class RedisClient: Sendable {
    public struct Endpoint: Sendable, Equatable {
        public var host: String
        public var port: Int
        public var password: String?
        public var database: Int

        /// Reads `redis://[:password@]host[:port][/database]`.
        public init(url: String) throws(RedisError) {
            guard let components = URLComponents(string: url), components.scheme == "redis" else {
                throw .invalidURL("expected redis://host:port")
            }
            guard let host = components.host, !host.isEmpty else { throw .invalidURL("no host") }
            self.host = host
            self.port = components.port ?? 6379
            self.password = components.password?.removingPercentEncoding
            let path = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
            guard let database = path.isEmpty ? 0 : Int(path) else { throw .invalidURL("database \(path) is not a number") }
            self.database = database
        }
    }

    let endpoint: Endpoint
    let url: String
    let timeout: Duration
    let threads: NIOThreadPool
    private let idle = Mutex<[RedisConnection]>([])
    private let isClosed = Atomic(false)

    public init(url: String, poolSize: Int = 4, timeout: Duration = .seconds(2)) throws(RedisError) {
        self.endpoint = try Endpoint(url: url)
        self.url = url
        self.timeout = timeout
        self.threads = NIOThreadPool(numberOfThreads: poolSize)
        threads.start()
    }

    /// Runs one command, e.g. `["SET", key, value, "PX", "1000"]`.
    @discardableResult
    public func command(_ arguments: [String]) async throws -> RedisValue {
        let value = try await pipeline([arguments])[0]
        if case .error(let message) = value { throw RedisError.server(message) }
        return value
    }

    /// Sends every command before reading any reply: one round trip for all of them.
    public func pipeline(_ commands: [[String]]) async throws -> [RedisValue] {
        guard !isClosed.load(ordering: .relaxed) else { throw RedisError.closed }
        return try await threads.runIfActive {
            let connection = try self.checkOut()
            do {
                let values = try connection.pipeline(commands)
                self.checkIn(connection)
                return values
            } catch {
                // The connection's state is unknown after a failure: drop it.
                throw error
            }
        }
    }

    /// Runs a script by its SHA-1, loading it first when the server does not know it.
    public func evaluate(_ script: RedisScript, keys: [String], arguments: [String]) async throws -> RedisValue {
        let call = ["EVALSHA", script.sha1, String(keys.count)] + keys + arguments
        do {
            return try await command(call)
        } catch RedisError.server(let message) where message.hasPrefix("NOSCRIPT") {
            try await command(["SCRIPT", "LOAD", script.source])
            return try await command(call)
        }
    }

    public func ping() async throws {
        let reply = try await command(["PING"])
        guard reply.text == "PONG" else { throw RedisError.server("PING answered \(reply)") }
    }

    public func close() async {
        guard !isClosed.exchange(true, ordering: .relaxed) else { return }
        try? await threads.shutdownGracefully()
        idle.withLock { $0.removeAll() }
    }

    private func checkOut() throws -> RedisConnection {
        if let connection = idle.withLock({ $0.popLast() }) { return connection }
        return try RedisConnection(endpoint: endpoint, url: url, timeout: timeout)
    }

    private func checkIn(_ connection: RedisConnection) {
        idle.withLock { $0.append(connection) }
    }
}

/// One hiredis context. Used by one thread at a time (the pool hands it to one command).
final class RedisConnection: @unchecked Sendable {
    private let context: UnsafeMutablePointer<redisContext>

    init(endpoint: RedisClient.Endpoint, url: String, timeout: Duration) throws {
        let seconds = timeout.components.seconds
        let microseconds = timeout.components.attoseconds / 1_000_000_000_000
        let interval = timeval(tv_sec: Int(seconds), tv_usec: Int(microseconds))
        guard let context = redisConnectWithTimeout(endpoint.host, Int32(endpoint.port), interval) else {
            throw RedisError.unreachable(url: url, reason: "out of memory")
        }
        if context.pointee.err != 0 {
            let reason = Self.errorText(context)
            redisFree(context)
            throw RedisError.unreachable(url: url, reason: reason)
        }
        redisSetTimeout(context, interval)
        redisEnableKeepAlive(context)
        self.context = context
        if let password = endpoint.password {
            if case .error(let message) = try pipeline([["AUTH", password]])[0] { throw RedisError.server(message) }
        }
        if endpoint.database != 0 {
            if case .error(let message) = try pipeline([["SELECT", String(endpoint.database)]])[0] { throw RedisError.server(message) }
        }
    }

    func pipeline(_ commands: [[String]]) throws -> [RedisValue] {
        for arguments in commands {
            let status = withArgv(arguments) { argc, argv, lengths in
                redisAppendCommandArgv(context, argc, argv, lengths)
            }
            guard status == REDIS_OK else { throw RedisError.connectionLost(Self.errorText(context)) }
        }
        var values: [RedisValue] = []
        values.reserveCapacity(commands.count)
        for _ in commands {
            var reply: UnsafeMutableRawPointer?
            guard redisGetReply(context, &reply) == REDIS_OK, let reply else {
                throw RedisError.connectionLost(Self.errorText(context))
            }
            let typed = reply.assumingMemoryBound(to: redisReply.self)
            values.append(RedisValue(copying: typed))
            freeReplyObject(reply)
        }
        return values
    }

    private static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    deinit {
        redisFree(context)
    }
}

/// Hands hiredis an argument vector with explicit lengths, so values may hold any bytes.
private func withArgv<T>(_ arguments: [String], _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> T) -> T {
    let buffers = arguments.map { argument -> UnsafeMutableBufferPointer<CChar> in
        let bytes = Array(argument.utf8)
        let buffer = UnsafeMutableBufferPointer<CChar>.allocate(capacity: max(bytes.count, 1))
        bytes.withUnsafeBytes { source in
            UnsafeMutableRawBufferPointer(buffer).copyMemory(from: source)
        }
        return buffer
    }
    defer { buffers.forEach { $0.deallocate() } }
    var pointers = buffers.map { UnsafePointer($0.baseAddress) }
    let lengths = arguments.map { $0.utf8.count }
    return pointers.withUnsafeMutableBufferPointer { argv in
        lengths.withUnsafeBufferPointer { lengths in
            body(Int32(arguments.count), argv.baseAddress!, lengths.baseAddress!)
        }
    }
}

extension RedisValue {
    /// Copies a reply tree; `freeReplyObject` frees the C tree afterwards.
    init(copying reply: UnsafeMutablePointer<redisReply>) {
        let value = reply.pointee
        switch value.type {
        case REDIS_REPLY_STRING:
            self = .string(value.str.map { Data(bytes: $0, count: value.len) } ?? Data())
        case REDIS_REPLY_STATUS:
            self = .status(value.str.map { String(cString: $0) } ?? "")
        case REDIS_REPLY_ERROR:
            self = .error(value.str.map { String(cString: $0) } ?? "")
        case REDIS_REPLY_INTEGER:
            self = .integer(value.integer)
        case REDIS_REPLY_ARRAY:
            self = .array((0..<value.elements).map { RedisValue(copying: value.element[$0]!) })
        default:
            self = .null
        }
    }
}
