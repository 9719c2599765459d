import RouterService
import Testing

@Suite struct CircuitBreakerTests {
    let start = ContinuousClock.now

    func opened(at instant: ContinuousClock.Instant) -> CircuitBreaker {
        var breaker = CircuitBreaker()
        for _ in 0..<5 { breaker.recordFailure(at: instant) }
        return breaker
    }

    @Test func itOpensAfterConsecutiveFailuresAndRefusesCallsWhileOpen() {
        var breaker = CircuitBreaker()
        for _ in 0..<4 {
            let allowed = breaker.allowsCall(at: start)
            #expect(allowed)
            breaker.recordFailure(at: start)
        }
        #expect(breaker.state == .closed)
        breaker.recordFailure(at: start)
        #expect(breaker.state == .open(until: start + .seconds(30)))
        let allowedWhileOpen = breaker.allowsCall(at: start + .seconds(29))
        #expect(!allowedWhileOpen)
    }

    @Test func afterTheOpenTimeOneProbeGoesThroughAndItsSuccessCloses() {
        var breaker = opened(at: start)
        let later = start + .seconds(30)
        let probe = breaker.allowsCall(at: later)
        #expect(probe && breaker.state == .halfOpen(probing: true))
        let second = breaker.allowsCall(at: later)
        #expect(!second, "a second call went through while the probe ran")
        breaker.recordSuccess()
        let afterClose = breaker.allowsCall(at: later)
        #expect(breaker.state == .closed && afterClose)
    }

    @Test func aFailedProbeOpensItAgain() {
        var breaker = opened(at: start)
        let later = start + .seconds(31)
        let probe = breaker.allowsCall(at: later)
        breaker.recordFailure(at: later)
        #expect(probe && breaker.state == .open(until: later + .seconds(30)))
    }

    @Test func anAbandonedProbeLetsAnotherCallProbe() {
        var breaker = opened(at: start)
        let first = breaker.allowsCall(at: start + .seconds(30))
        breaker.recordAbandoned()
        let second = breaker.allowsCall(at: start + .seconds(30))
        #expect(first && second)
    }

    @Test func aHighErrorRateOpensItWithoutFailuresInARow() {
        var breaker = CircuitBreaker()
        // fail, succeed, fail, …: never two failures in a row, half of the calls failing.
        for index in 0..<9 {
            if index.isMultiple(of: 2) { breaker.recordFailure(at: start) } else { breaker.recordSuccess() }
        }
        #expect(breaker.state == .closed, "fewer calls than the minimum")
        breaker.recordSuccess()
        breaker.recordFailure(at: start)  // 11 calls, 6 failed
        #expect(breaker.state == .open(until: start + .seconds(30)))
    }

    @Test func occasionalFailuresKeepItClosed() {
        var breaker = CircuitBreaker()
        for index in 0..<100 {
            if index % 5 == 0 { breaker.recordFailure(at: start) } else { breaker.recordSuccess() }
        }
        #expect(breaker.state == .closed)
    }

    @Test func retryAfterPausesTheDeployment() {
        var breaker = CircuitBreaker()
        breaker.coolDown(until: start + .seconds(10))
        let early = breaker.allowsCall(at: start + .seconds(9))
        let onTime = breaker.allowsCall(at: start + .seconds(10))
        #expect(!early && onTime)
    }
}
