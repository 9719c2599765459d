import Foundation
import NIOCore
import NIOPosix
import SwitchyardRedis
import Testing

@Suite struct RedisTests {
    func withRedis<T>(_ body: (RedisClient) async throws -> T) async throws -> T {
        let redis = try RedisClient(url: TestEnvironment.redisURL)
        do {
            let result = try await body(redis)
            await redis.close()
            return result
        } catch {
            await redis.close()
            throw error
        }
    }

    @Test func commandsTakeArgumentVectorsWithAnyBytes() async throws {
        try await withRedis { redis in
            let key = uniqueName("key")
            let value = "spaces and \"quotes\"\r\nand a NUL \u{0} inside"
            try await redis.command(["SET", key, value, "PX", "60000"])
            #expect(try await redis.command(["GET", key]).text == value)
            #expect(try await redis.command(["GET", uniqueName("missing")]) == .null)
            #expect(try await redis.command(["INCRBY", key + ":n", "5"]).integer == 5)
        }
    }

    @Test func aPipelineAnswersEveryCommandInOrderAndReportsErrorsInPlace() async throws {
        try await withRedis { redis in
            let key = uniqueName("list")
            let replies = try await redis.pipeline([
                ["RPUSH", key, "a", "b"],
                ["LRANGE", key, "0", "-1"],
                ["INCR", key],  // wrong type
                ["DEL", key],
            ])
            #expect(replies[0] == .integer(2))
            #expect(replies[1] == .array([.string(Data("a".utf8)), .string(Data("b".utf8))]))
            guard case .error(let message) = replies[2] else {
                Issue.record("expected an error reply, got \(replies[2])")
                return
            }
            #expect(message.hasPrefix("WRONGTYPE"))
            #expect(replies[3] == .integer(1))
        }
    }

    @Test func aScriptIsLoadedOnNoScriptAndRunByItsSHA() async throws {
        try await withRedis { redis in
            // A script of its own, new to the server. (No SCRIPT FLUSH: other tests share it.)
            let script = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1]) -- \(UUID())")
            let key = uniqueName("counter")
            let known = try await redis.command(["SCRIPT", "EXISTS", script.sha1])
            #expect(known == .array([.integer(0)]))
            #expect(try await redis.evaluate(script, keys: [key], arguments: ["3"]).integer == 3)
            #expect(try await redis.command(["SCRIPT", "EXISTS", script.sha1]) == .array([.integer(1)]))
            #expect(try await redis.evaluate(script, keys: [key], arguments: ["4"]).integer == 7)
        }
    }

    @Test func aServerErrorIsThrownWithItsMessage() async throws {
        try await withRedis { redis in
            _ = await #expect {
                try await redis.command(["NOSUCHCOMMAND"])
            } throws: { error in
                guard case RedisError.server(let message) = error else { return false }
                return message.contains("unknown command")
            }
        }
    }

    @Test func aKilledConnectionIsReplacedOnTheNextCommand() async throws {
        let redis = try RedisClient(url: TestEnvironment.redisURL, connections: 1)
        let before = try #require(try await redis.command(["CLIENT", "ID"]).integer)
        // The server drops the connection; the reply to this very command may be lost with it.
        _ = try? await redis.command(["CLIENT", "KILL", "ID", String(before), "SKIPME", "no"])
        // At most one command learns that the connection died; the next uses a new one.
        _ = try? await redis.ping()
        let after = try #require(try await redis.command(["CLIENT", "ID"]).integer)
        #expect(after != before)
        await redis.close()
    }

    /// Commands from many tasks at once share a connection; each gets its own reply.
    @Test func concurrentCommandsEachGetTheirOwnReply() async throws {
        try await withRedis { redis in
            let replies = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
                for index in 0..<500 {
                    group.addTask { (index, try await redis.command(["ECHO", "value \(index)"]).text) }
                }
                return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
            }
            #expect(replies.count == 500 && replies.allSatisfy { $0.value == "value \($0.key)" })
        }
    }

    /// A server that takes the connection and never answers: the command fails after the
    /// timeout rather than wait for ever.
    @Test func aServerThatNeverAnswersFailsTheCommandAfterTheTimeout() async throws {
        let silent = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        // The timeout covers connecting too: long enough for a connect on a busy machine.
        let redis = try RedisClient(url: "redis://127.0.0.1:\(silent.localAddress!.port!)", timeout: .seconds(2))
        let started = ContinuousClock.now
        await #expect {
            try await redis.ping()
        } throws: { error in
            guard case RedisError.connectionLost(let reason) = error else { return false }
            return reason.contains("no reply")
        }
        #expect(started.duration(to: .now) < .seconds(10))
        await redis.close()
        try await silent.close()
    }

    /// A server that drops each connection as soon as a command arrives, under many commands at
    /// once: every command ends (with an error here), none waits for ever, also one that took the
    /// connection just before it closed.
    @Test func commandsSentWhileTheirConnectionClosesAllEnd() async throws {
        let closing = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(CloseOnFirstRead()) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        // A timeout longer than the test waits: a command left waiting is not rescued by it.
        let redis = try RedisClient(url: "redis://127.0.0.1:\(closing.localAddress!.port!)", connections: 1, timeout: .seconds(300))
        let total = 2000
        let ended = SharedCount()
        let load = Task {
            for _ in 0..<(total / 50) {
                await withTaskGroup(of: Void.self) { group in
                    for _ in 0..<50 {
                        group.addTask {
                            _ = try? await redis.command(["PING"])
                            ended.value.add(1, ordering: .relaxed)
                        }
                    }
                }
            }
        }
        let allEnded = try await eventually(timeout: .seconds(60)) { ended.value.load(ordering: .relaxed) == total }
        #expect(allEnded, "\(total - ended.value.load(ordering: .relaxed)) of \(total) commands still waiting")
        load.cancel()
        await redis.close()
        try await closing.close()
    }

    @Test func anAbsentServerIsNamedInTheError() async throws {
        let redis = try RedisClient(url: "redis://127.0.0.1:1")
        await #expect {
            try await redis.ping()
        } throws: { error in
            guard case RedisError.unreachable(let url, _) = error else { return false }
            return url == "redis://127.0.0.1:1"
        }
        await redis.close()
    }

    @Test func badURLsAreRefused() {
        #expect(throws: RedisError.self) { try RedisClient.Endpoint(url: "http://x") }
        #expect(throws: RedisError.self) { try RedisClient.Endpoint(url: "redis://host/notanumber") }
        let endpoint = try? RedisClient.Endpoint(url: "redis://:p%2541ss@10.0.0.1:6380/2")
        #expect(endpoint?.host == "10.0.0.1" && endpoint?.port == 6380 && endpoint?.database == 2)
        #expect(endpoint?.password == "p%41ss", "percent-decoded once")
        #expect((try? RedisClient.Endpoint(url: "redis://[::1]"))?.host == "::1")
    }
}

/// Closes the connection at the first bytes it reads.
private final class CloseOnFirstRead: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.close(promise: nil)
    }
}
