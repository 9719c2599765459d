import Foundation

/// Whether a deployment gets traffic, from how its recent calls went.
///
/// Closed: calls go through. It opens after `consecutiveFailures` failures in a row, or when at
/// least `errorRate` of the last `window` calls failed (once `minimumCalls` were seen). Open:
/// no calls until `openDuration` has passed (or a provider's `Retry-After`). Then half-open: one
/// probe call goes through; its success closes the breaker, its failure opens it again.
/// A value with the time passed in, so every transition is tested without waiting.
public struct CircuitBreaker: Sendable, Equatable {
    public struct Policy: Sendable, Equatable {
        public var consecutiveFailures = 5
        public var errorRate = 0.5
        public var window = 20
        public var minimumCalls = 10
        public var openDuration: Duration = .seconds(30)

        public init() {}
    }

    public enum State: Sendable, Equatable {
        case closed
        case open(until: ContinuousClock.Instant)
        case halfOpen(probing: Bool)
    }

    public private(set) var state: State = .closed
    let policy: Policy
    private var failuresInARow = 0
    /// The last `window` outcomes, true for a failure.
    private var recent: [Bool] = []

    public init(policy: Policy = Policy()) {
        self.policy = policy
    }

    /// Whether a call may go to the deployment now. In half-open, true once: for the probe.
    public mutating func allowsCall(at now: ContinuousClock.Instant) -> Bool {
        switch state {
        case .closed:
            return true
        case .open(let until):
            guard now >= until else { return false }
            state = .halfOpen(probing: true)
            return true
        case .halfOpen(let probing):
            guard !probing else { return false }
            state = .halfOpen(probing: true)
            return true
        }
    }

    public mutating func recordSuccess() {
        failuresInARow = 0
        remember(failed: false)
        if case .halfOpen = state { reset() }
    }

    public mutating func recordFailure(at now: ContinuousClock.Instant) {
        failuresInARow += 1
        remember(failed: true)
        if case .halfOpen = state {
            trip(until: now + policy.openDuration)
            return
        }
        let failures = recent.filter { $0 }.count
        if failuresInARow >= policy.consecutiveFailures
            || (recent.count >= policy.minimumCalls && Double(failures) / Double(recent.count) >= policy.errorRate) {
            trip(until: now + policy.openDuration)
        }
    }

    /// A call that ended without telling anything (the caller left): if it was the probe,
    /// let another call probe.
    public mutating func recordAbandoned() {
        if case .halfOpen = state { state = .halfOpen(probing: false) }
    }

    /// The provider asked for a pause (`Retry-After`): no calls until then.
    public mutating func coolDown(until: ContinuousClock.Instant) {
        if case .open(let current) = state, current >= until { return }
        state = .open(until: until)
    }

    private mutating func trip(until: ContinuousClock.Instant) {
        state = .open(until: until)
        failuresInARow = 0
        recent.removeAll()
    }

    private mutating func reset() {
        state = .closed
        failuresInARow = 0
        recent.removeAll()
    }

    private mutating func remember(failed: Bool) {
        recent.append(failed)
        if recent.count > policy.window { recent.removeFirst(recent.count - policy.window) }
    }
}
