import Hummingbird

/// Serves `router` on a free loopback port until the returned task is cancelled. A server that
/// cannot start throws here, rather than leave its test waiting for a port.
func serveOnFreePort(_ router: Router<BasicRequestContext>) async throws -> (port: Int, server: Task<Void, any Error>) {
    let (ports, port) = AsyncStream.makeStream(of: Int.self)
    let app = Application(
        router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in port.yield(channel.localAddress?.port ?? 0) })
    let server = Task {
        defer { port.finish() }
        try await app.runService()
    }
    var iterator = ports.makeAsyncIterator()
    guard let bound = await iterator.next(), bound != 0 else {
        server.cancel()
        try await server.value
        throw ServerDidNotStart()
    }
    return (bound, server)
}

struct ServerDidNotStart: Error {}
