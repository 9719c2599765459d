import Foundation
import NIOCore
import NIOPosix
import Synchronization

struct DeadlinePassed: Error {}

/// Runs `body`, cancelling it when `seconds` have passed (then throwing `DeadlinePassed`). The
/// deadline is a timer on an event loop, not a sleeping task: one per request adds up.
func withDeadline<T: Sendable>(seconds: TimeInterval, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    guard seconds.isFinite else { return try await body() }
    let passed = Atomic(false)
    let work = Task { try await body() }
    let timer = eventLoopForTimers().scheduleTask(in: .milliseconds(Int64(max(0, seconds) * 1000))) {
        passed.store(true, ordering: .relaxed)
        work.cancel()
    }
    defer { timer.cancel() }
    return try await withTaskCancellationHandler {
        do {
            return try await work.value
        } catch where passed.load(ordering: .relaxed) {
            throw DeadlinePassed()
        }
    } onCancel: {
        work.cancel()
    }
}

/// The event loop a timer goes on: the caller's, when it runs on one.
func eventLoopForTimers() -> any EventLoop {
    MultiThreadedEventLoopGroup.currentEventLoop ?? MultiThreadedEventLoopGroup.singleton.next()
}

/// Waits `duration` on an event loop's timer, or less when the task is cancelled. A
/// `Task.sleep` goes through Dispatch's timer thread and one of its workers before the task runs
/// again: three threads woken for one pause.
func pause(for duration: Duration) async {
    let sleeper = Sleeper()
    await withTaskCancellationHandler {
        await withCheckedContinuation { continuation in
            let timer = eventLoopForTimers().scheduleTask(in: TimeAmount(duration)) { sleeper.wake() }
            sleeper.wait(continuation, timer: timer)
        }
    } onCancel: {
        sleeper.wake()
    }
}

/// One pause: woken once, by its timer or by cancellation, whichever comes first.
private final class Sleeper: Sendable {
    private enum State {
        case starting
        case waiting(CheckedContinuation<Void, Never>, Scheduled<Void>)
        case woken
    }

    private let state = Mutex(State.starting)

    func wait(_ continuation: CheckedContinuation<Void, Never>, timer: Scheduled<Void>) {
        let wokenAlready = state.withLock { state in
            guard case .starting = state else { return true }
            state = .waiting(continuation, timer)
            return false
        }
        if wokenAlready {
            timer.cancel()
            continuation.resume()
        }
    }

    func wake() {
        let waiting = state.withLock { state -> (CheckedContinuation<Void, Never>, Scheduled<Void>)? in
            defer { state = .woken }
            guard case .waiting(let continuation, let timer) = state else { return nil }
            return (continuation, timer)
        }
        guard let (continuation, timer) = waiting else { return }
        timer.cancel()
        continuation.resume()
    }
}
