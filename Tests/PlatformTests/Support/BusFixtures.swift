import Contracts
import Foundation
import ServiceLifecycle
import SwitchyardBus
import Synchronization
import Testing

/// An event payload for tests, on `evt.<tenant>.test.pinged`.
struct Pinged: EventPayload {
    static let eventType = EventType(domain: "test", name: "pinged")
    static let version = 1
    var number: Int
}

/// Runs `services` (consumers, responders) beside `body` and cancels them when it returns.
func withRunning<T: Sendable>(_ services: [any Service], _ body: () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: Void.self) { group in
        for service in services {
            group.addTask { try await service.run() }
        }
        defer { group.cancelAll() }
        return try await body()
    }
}

/// Runs `services` in a service group beside `body`, then shuts them down gracefully (as
/// SIGTERM would), in reverse order, whether `body` returns or throws.
func withServiceGroup<T: Sendable>(_ services: [any Service], _ body: () async throws -> T) async throws -> T {
    let serviceGroup = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) }, logger: TestEnvironment.logger))
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await serviceGroup.run() }
        let result: Result<T, any Error>
        do { result = .success(try await body()) } catch { result = .failure(error) }
        await serviceGroup.triggerGracefulShutdown()
        try await group.waitForAll()
        return try result.get()
    }
}

/// Deliveries a handler saw, readable from the test as a stream.
final class DeliveryLog: Sendable {
    let stream: AsyncStream<Delivery>
    private let continuation: AsyncStream<Delivery>.Continuation
    private let seen = Mutex<[Delivery]>([])

    init() {
        (stream, continuation) = AsyncStream.makeStream(of: Delivery.self)
    }

    func record(_ delivery: Delivery) {
        seen.withLock { $0.append(delivery) }
        continuation.yield(delivery)
    }

    var count: Int { seen.withLock { $0.count } }

    /// The next `count` deliveries, or fewer if `timeout` passes first.
    func next(_ count: Int, timeout: Duration = .seconds(10)) async -> [Delivery] {
        await withTaskGroup(of: [Delivery].self) { group in
            group.addTask {
                var collected: [Delivery] = []
                for await delivery in self.stream {
                    collected.append(delivery)
                    if collected.count == count { break }
                }
                return collected
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return []
            }
            let first = await group.next()!
            group.cancelAll()
            return first
        }
    }
}

/// Waits until a responder on `subject` has subscribed: until a request no longer finds
/// nobody listening.
func awaitResponder(_ bus: Bus, _ subject: String) async throws {
    let ready = try await eventually(timeout: .seconds(5)) {
        do {
            _ = try await bus.request(subject, payload: Data(), timeout: .milliseconds(200))
            return true
        } catch BusError.noResponders {
            return false
        } catch {
            return true  // a timeout or a fault still means someone listens
        }
    }
    #expect(ready, "nobody subscribed to \(subject)")
}
