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
/// SIGTERM would), in reverse order, whether `body` returns or throws. A service still running
/// 15 seconds later fails the test by name and is cancelled, rather than hang the run.
func withServiceGroup<T: Sendable>(_ services: [any Service], _ body: () async throws -> T) async throws -> T {
    let running = RunningServices()
    let tracked = services.enumerated().map { index, service in TrackedService(index: index, inner: service, running: running) }
    let serviceGroup = ServiceGroup(configuration: .init(services: tracked.map { .init(service: $0) }, logger: TestEnvironment.logger))
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await serviceGroup.run() }
        let result: Result<T, any Error>
        do { result = .success(try await body()) } catch { result = .failure(error) }
        await serviceGroup.triggerGracefulShutdown()
        let stopped = (try? await eventually(timeout: .seconds(15)) { running.names.isEmpty }) ?? false
        if !stopped {
            Issue.record("still running 15 s after graceful shutdown: \(running.names.sorted())")
            group.cancelAll()
        }
        try? await group.waitForAll()
        return try result.get()
    }
}

final class RunningServices: Sendable {
    private let services = Mutex<[Int: String]>([:])
    func started(_ index: Int, _ name: String) { services.withLock { $0[index] = name } }
    func finished(_ index: Int) { _ = services.withLock { $0.removeValue(forKey: index) } }
    var names: [String] { services.withLock { Array($0.values) } }
}

struct TrackedService: Service {
    let index: Int
    let inner: any Service
    let running: RunningServices

    func run() async throws {
        running.started(index, "\(type(of: inner))")
        defer { running.finished(index) }
        try await inner.run()
    }
}

extension DurableConsumer {
    /// A consumer of `tenant`'s events that records every delivery in `log` and answers it done.
    static func recording(into log: DeliveryLog, bus: Bus, name: String, tenant: UUID) -> DurableConsumer {
        DurableConsumer(bus: bus, spec: ConsumerSpec(name: name, filterSubject: Subject.events(ofTenant: tenant)), logger: TestEnvironment.logger) { delivery in
            log.record(delivery)
            return .done
        }
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
    let ready = try await eventually(timeout: TestEnvironment.replyTimeout) {
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
