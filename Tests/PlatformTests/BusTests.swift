import Contracts
import Foundation
import ServiceLifecycle
import SwitchyardBus
import Synchronization
import Testing

@Suite struct EventStreamTests {
    @Test func anEventPublishedTwiceIsStoredOnceAndConsumedOnce() async throws {
        try await withBus { bus in
            let tenant = UUID.timeOrdered()
            let first = Envelope(tenantID: tenant, payload: Pinged(number: 1))
            let ack = try await bus.publish(first)
            let again = try await bus.publish(first)
            #expect(ack.stream == "EVENTS" && !ack.duplicate)
            #expect(again.duplicate && again.sequence == ack.sequence)
            try await bus.publish(Envelope(tenantID: tenant, payload: Pinged(number: 2)))

            let log = DeliveryLog()
            let consumer = DurableConsumer.recording(into: log, bus: bus, name: uniqueName("pinged"), tenant: tenant)
            try await withRunning([consumer]) {
                let deliveries = await log.next(2)
                let numbers = try deliveries.map { try $0.decode(Pinged.self).payload.number }.sorted()
                #expect(numbers == [1, 2])
                #expect(deliveries.allSatisfy { $0.attempt == 1 })
                #expect(try deliveries.map { try $0.decode(Pinged.self) }.contains(first))
            }
        }
    }

    @Test func aLingeringConsumerWaitsBeforeFetchingAgainAfterAShortFetch() async throws {
        try await withBus { bus in
            let tenant = UUID.timeOrdered()
            var spec = ConsumerSpec(name: uniqueName("lingering"), filterSubject: Subject.events(ofTenant: tenant))
            spec.linger = .milliseconds(600)
            let log = DeliveryLog()
            let consumer = DurableConsumer(bus: bus, spec: spec, logger: TestEnvironment.logger) { delivery in
                log.record(delivery)
                return .done
            }
            try await withRunning([consumer]) {
                try await bus.publish(Envelope(tenantID: tenant, payload: Pinged(number: 1)))
                #expect(await log.next(1).count == 1)
                // The fetch that brought one event of the 32 asked for is followed by the linger.
                let firstHandled = ContinuousClock.now
                try await bus.publish(Envelope(tenantID: tenant, payload: Pinged(number: 2)))
                try await bus.publish(Envelope(tenantID: tenant, payload: Pinged(number: 3)))
                let later = await log.next(2)
                #expect(later.count == 2)
                let waited = firstHandled.duration(to: .now)
                #expect(waited >= .milliseconds(400), "the next fetch came after \(waited), before the linger ended")
            }
        }
    }

    @Test func aHandlerThatKeepsFailingEndsInTheDLQAfterMaxDeliver() async throws {
        try await withBus { bus in
            let tenant = UUID.timeOrdered()
            let name = uniqueName("failing")
            var spec = ConsumerSpec(name: name, filterSubject: Subject.events(ofTenant: tenant))
            spec.maxDeliver = 3
            let log = DeliveryLog()
            let consumer = DurableConsumer(bus: bus, spec: spec, logger: TestEnvironment.logger) { delivery in
                log.record(delivery)
                return .retry(after: .milliseconds(20))
            }
            let event = Envelope(tenantID: tenant, correlationID: "req_dlq", payload: Pinged(number: 7))
            let ack = try await bus.publish(event)
            try await withRunning([consumer]) {
                let deliveries = await log.next(3)
                #expect(deliveries.map(\.attempt) == [1, 2, 3])
                let letter = try await deadLetter(of: name, on: bus)
                #expect(letter?.originalSubject == event.subject)
                #expect(letter?.originalSequence == ack.sequence && letter?.originalStream == "EVENTS")
                #expect(letter?.deliveries == 3)
                #expect(letter?.error.contains("still failing after 3 deliveries") == true)
                #expect(letter?.message.headers[BusHeader.correlationID] == "req_dlq")
                #expect(try letter.map { try JSONCoding.decode(Envelope<Pinged>.self, from: $0.message.payload) } == event)
            }
        }
    }

    @Test func aPoisonAnswerGoesToTheDLQAtOnceAndDoesNotBlockLaterEvents() async throws {
        try await withBus { bus in
            let tenant = UUID.timeOrdered()
            let name = uniqueName("poisoned")
            let log = DeliveryLog()
            var spec = ConsumerSpec(name: name, filterSubject: Subject.events(ofTenant: tenant))
            spec.maxInFlight = 1  // in stream order
            let consumer = DurableConsumer(bus: bus, spec: spec, logger: TestEnvironment.logger) { delivery in
                log.record(delivery)
                let number = (try? delivery.decode(Pinged.self).payload.number) ?? -1
                return number == 1 ? .poison(reason: "number 1 is not allowed") : .done
            }
            try await bus.publish(Envelope(tenantID: tenant, payload: Pinged(number: 1)))
            try await bus.publish(Envelope(tenantID: tenant, payload: Pinged(number: 2)))
            try await withRunning([consumer]) {
                let deliveries = await log.next(2)
                #expect(try deliveries.map { try $0.decode(Pinged.self).payload.number } == [1, 2])
                let letter = try await deadLetter(of: name, on: bus)
                #expect(letter?.deliveries == 1 && letter?.error == "number 1 is not allowed")
                // What the consumer's backlog gauges report: nothing waiting, one dead letter.
                let drained = try await eventually { try await bus.consumerBacklog(stream: StreamSpec.events.name, consumer: name).isCaughtUp }
                #expect(drained)
                #expect(try await bus.messageCount(stream: DeadLetterQueue.stream, subjects: Subject.deadLetters(consumer: name)) == 1)
            }
        }
    }

    @Test func aConsumersBacklogCountsWhatWaitsForIt() async throws {
        try await withBus { bus in
            let tenant = UUID.timeOrdered()
            let name = uniqueName("backlog")
            let gate = DeliveryLog()
            let released = Mutex(false)
            // Takes one message and holds it until the test is done: the rest wait.
            var spec = ConsumerSpec(name: name, filterSubject: Subject.events(ofTenant: tenant))
            spec.maxInFlight = 1
            let consumer = DurableConsumer(bus: bus, spec: spec, logger: TestEnvironment.logger) { delivery in
                gate.record(delivery)
                while !released.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(50)) }
                return .done
            }
            for number in 1...5 { try await bus.publish(Envelope(tenantID: tenant, payload: Pinged(number: number))) }
            try await withRunning([consumer]) {
                defer { released.withLock { $0 = true } }
                #expect(await gate.next(1).count == 1)
                var backlog: ConsumerBacklog?
                let counted = try await eventually {
                    backlog = try await bus.consumerBacklog(stream: StreamSpec.events.name, consumer: name)
                    return backlog.map { $0.pending + UInt64($0.unacknowledged) == 5 && $0.unacknowledged >= 1 } ?? false
                }
                #expect(counted, "\(String(describing: backlog))")
                #expect(try await bus.messageCount(stream: DeadLetterQueue.stream, subjects: Subject.deadLetters(consumer: name)) == 0)
            }
        }
    }

    /// A handler that says it is at work keeps its message past the ack wait: it is not
    /// delivered again meanwhile. The same handler without progress reports is.
    @Test func aHandlerReportingProgressKeepsItsMessagePastTheAckWait() async throws {
        try await withBus { bus in
            for reportsProgress in [true, false] {
                let tenant = UUID.timeOrdered()
                var spec = ConsumerSpec(name: uniqueName("slow"), filterSubject: Subject.events(ofTenant: tenant))
                spec.ackWait = .milliseconds(900)
                spec.progressInterval = reportsProgress ? .milliseconds(300) : nil
                let log = DeliveryLog()
                let consumer = DurableConsumer(bus: bus, spec: spec, logger: TestEnvironment.logger) { delivery in
                    log.record(delivery)
                    // Three ack waits.
                    try? await Task.sleep(for: .milliseconds(2700))
                    return .done
                }
                try await bus.publish(Envelope(tenantID: tenant, payload: Pinged(number: 1)))
                try await withRunning([consumer]) {
                    _ = await log.next(1)
                    try await Task.sleep(for: .milliseconds(3500))
                    if reportsProgress {
                        #expect(log.count == 1, "delivered \(log.count) times while its handler reported progress")
                    } else {
                        #expect(log.count > 1, "the test's handler outlasts the ack wait: it must be delivered again without progress reports")
                    }
                }
            }
        }
    }

    @Test func aMessageNeverAnsweredWithinTheAckWaitIsDeadLetteredFromTheAdvisory() async throws {
        try await withBus { bus in
            let tenant = UUID.timeOrdered()
            let name = uniqueName("hung")
            var spec = ConsumerSpec(name: name, filterSubject: Subject.events(ofTenant: tenant))
            spec.ackWait = .milliseconds(300)
            spec.maxDeliver = 2
            let log = DeliveryLog()
            let consumer = DurableConsumer(bus: bus, spec: spec, logger: TestEnvironment.logger) { delivery in
                log.record(delivery)
                // Hangs: answers nothing until the test ends.
                try? await Task.sleep(for: .seconds(60))
                return .done
            }
            let ack = try await bus.publish(Envelope(tenantID: tenant, payload: Pinged(number: 9)))
            try await withRunning([consumer]) {
                #expect(await log.next(2).map(\.attempt) == [1, 2])
                let letter = try await deadLetter(of: name, on: bus)
                #expect(letter?.originalSequence == ack.sequence)
                #expect(letter?.deliveries == 2)
                #expect(letter?.error == "no answer within the ack wait after 2 deliveries")
            }
        }
    }

    @Test func theDeadLetterCommandsListShowReplayAndPurge() async throws {
        try await withBus { bus in
            let tenant = UUID.timeOrdered()
            let failingName = uniqueName("replayed")
            let failedOnce = Mutex<Set<UUID>>([])
            let failing = DeliveryLog()
            let failingConsumer = DurableConsumer(
                bus: bus, spec: ConsumerSpec(name: failingName, filterSubject: Subject.events(ofTenant: tenant)),
                logger: TestEnvironment.logger
            ) { delivery in
                failing.record(delivery)
                let id = (try? delivery.decode(Pinged.self).id) ?? UUID()
                // Fails the first time it sees an event, as a bug fixed before the replay would.
                return failedOnce.withLock { $0.insert(id).inserted } ? .poison(reason: "not yet") : .done
            }
            var bystanderSpec = ConsumerSpec(name: uniqueName("bystander"), filterSubject: Subject.events(ofTenant: tenant))
            bystanderSpec.maxInFlight = 1  // in stream order, so the marker comes after the replay
            let bystander = DeliveryLog()
            let bystanderConsumer = DurableConsumer(bus: bus, spec: bystanderSpec, logger: TestEnvironment.logger) { delivery in
                bystander.record(delivery)
                return .done
            }
            let event = Envelope(tenantID: tenant, payload: Pinged(number: 42))
            try await bus.publish(event)
            try await withRunning([failingConsumer, bystanderConsumer]) {
                #expect(await failing.next(1).count == 1)
                #expect(await bystander.next(1).count == 1)
                let letter = try #require(try await deadLetter(of: failingName, on: bus))

                let listed = try await CLI.run(["dlq", "list", "--consumer", failingName])
                #expect(listed.contains("\(letter.sequence)\t\(failingName)\t\(event.subject)\t1\tnot yet"))
                let shown = try await CLI.run(["dlq", "show", String(letter.sequence)])
                #expect(shown.contains("\(BusHeader.deadLetterConsumer): \(failingName)"))
                #expect(shown.contains(event.id.uuidString))

                _ = try await CLI.run(["dlq", "replay", String(letter.sequence)])
                let replayed = await failing.next(1)
                #expect(try replayed.first?.decode(Pinged.self) == event)
                #expect(replayed.first?.message.headers[BusHeader.replayFor] == failingName)
                #expect(try await DeadLetterQueue(bus: bus).show(letter.sequence) == nil)

                // The bystander handled the event once: the replay was not for it.
                try await bus.publish(Envelope(tenantID: tenant, payload: Pinged(number: 43)))
                let marker = await bystander.next(1)
                #expect(try marker.first?.decode(Pinged.self).payload.number == 43)
                #expect(bystander.count == 2)
            }

            // Purge: poison one more, then remove this consumer's dead letters.
            try await bus.publish(Envelope(tenantID: tenant, payload: Pinged(number: 44)))
            let second = try await withRunning([failingConsumer]) { try await deadLetter(of: failingName, on: bus) }
            #expect(second != nil)
            _ = try await CLI.run(["dlq", "purge", "--consumer", failingName])
            #expect(try await DeadLetterQueue(bus: bus).list(consumer: failingName).isEmpty)
        }
    }
}

/// The consumer's first dead letter, once it is there.
func deadLetter(of consumer: String, on bus: Bus) async throws -> DeadLetter? {
    var found: DeadLetter?
    _ = try await eventually {
        found = try await DeadLetterQueue(bus: bus).list(consumer: consumer).first
        return found != nil
    }
    return found
}

@Suite struct RequestReplyTests {
    @Test func aRequestGetsItsReply() async throws {
        try await withBus { bus in
            let subject = "svc.test.\(uniqueName("echo"))"
            let responder = Responder(bus: bus, subject: subject, queue: "test", logger: TestEnvironment.logger, handler: .unary { request in
                #expect(request.deadline != nil)
                return Data("echo: ".utf8) + request.payload
            })
            try await withRunning([responder]) {
                try await awaitResponder(bus, subject)
                let reply = try await bus.request(subject, payload: Data("hello".utf8), timeout: TestEnvironment.replyTimeout)
                #expect(String(decoding: reply.payload, as: UTF8.self) == "echo: hello")
            }
        }
    }

    @Test func aRequestPastItsDeadlineTimesOutAndTheCalleeStops() async throws {
        try await withBus { bus in
            let subject = "svc.test.\(uniqueName("slow"))"
            let started = Mutex(0)
            let cancelled = Mutex(0)
            let responder = Responder(bus: bus, subject: subject, queue: "test", logger: TestEnvironment.logger, handler: .unary { request in
                guard !request.payload.isEmpty else { return Data() }  // the readiness probe
                started.withLock { $0 += 1 }
                do {
                    try await Task.sleep(for: .seconds(30))
                } catch {
                    cancelled.withLock { $0 += 1 }
                    throw error
                }
                return Data("too late".utf8)
            })
            try await withRunning([responder]) {
                try await awaitResponder(bus, subject)
                await #expect(throws: BusError.timedOut(subject: subject)) {
                    try await bus.request(subject, payload: Data("work".utf8), timeout: .seconds(1))
                }
                // The callee's work was cancelled at the deadline, not left running for 30 s. The
                // wait has a limit: a request that reaches its callee after its deadline (a machine
                // stalled for the whole second) is never started, and no cancellation would come.
                let stopped = try await eventually(timeout: .seconds(10)) { cancelled.withLock { $0 } == 1 }
                #expect(started.withLock { $0 } == 1, "the request reached its callee after its deadline")
                #expect(stopped)
            }
        }
    }

    @Test func aRequestNobodyServesSaysSoAfterTheResponderGrace() async throws {
        try await withBus { bus in
            let subject = "svc.test.\(uniqueName("absent"))"
            let started = ContinuousClock.now
            await #expect(throws: BusError.noResponders(subject: subject)) {
                try await bus.request(subject, payload: Data(), timeout: .seconds(5), responderGrace: .milliseconds(300))
            }
            // Sent again after 25, 50 and 100 ms; the next pause (200 ms) would pass the grace.
            #expect(ContinuousClock.now - started >= .milliseconds(175))
        }
    }

    /// A callee that subscribes a moment after the request was first sent (starting, or
    /// restarting) still answers it.
    @Test func aRequestSentBeforeItsResponderSubscribesIsAnswered() async throws {
        try await withBus { bus in
            let subject = "svc.test.\(uniqueName("late"))"
            let responder = Responder(bus: bus, subject: subject, queue: "test", logger: TestEnvironment.logger, handler: .unary { request in
                request.payload
            })
            let answer = Task {
                try await bus.request(subject, payload: Data("ping".utf8), timeout: TestEnvironment.replyTimeout, responderGrace: TestEnvironment.lateResponderGrace)
            }
            try await Task.sleep(for: .milliseconds(200))
            try await withRunning([responder]) {
                let reply = try await answer.value
                #expect(reply.payload == Data("ping".utf8))
            }
        }
    }

    @Test func aFaultReachesTheCallerAsIs() async throws {
        try await withBus { bus in
            let subject = "svc.test.\(uniqueName("faulty"))"
            let fault = ServiceFault(code: "model_not_found", message: "no model named x", param: "model")
            let responder = Responder(bus: bus, subject: subject, queue: "test", logger: TestEnvironment.logger, handler: .unary { _ in
                throw fault
            })
            try await withRunning([responder]) {
                try await awaitResponder(bus, subject)
                await #expect(throws: BusError.remote(fault)) {
                    try await bus.request(subject, payload: Data(), timeout: TestEnvironment.replyTimeout)
                }
            }
        }
    }

    @Test func aStreamedReplyArrivesInOrderAndEnds() async throws {
        try await withBus { bus in
            let subject = "svc.test.\(uniqueName("stream"))"
            let responder = Responder(bus: bus, subject: subject, queue: "test", logger: TestEnvironment.logger, handler: .streaming { _, writer in
                for number in 0..<5 { try await writer.send(Data("chunk \(number)".utf8)) }
            })
            try await withRunning([responder]) {
                try await awaitResponder(bus, subject)
                var chunks: [String] = []
                for try await chunk in try bus.requestStream(subject, payload: Data(), timeout: TestEnvironment.replyTimeout) {
                    chunks.append(String(decoding: chunk.payload, as: UTF8.self))
                }
                #expect(chunks == (0..<5).map { "chunk \($0)" })
            }
        }
    }

    /// A streamed request whose first chunk is awaited through `sendingAgainUntilAResponder`
    /// reaches a callee that subscribes a moment after it was first sent.
    @Test func aStreamedRequestSentAgainReachesALateResponder() async throws {
        try await withBus { bus in
            let subject = "svc.test.\(uniqueName("late-stream"))"
            let responder = Responder(bus: bus, subject: subject, queue: "test", logger: TestEnvironment.logger, handler: .streaming { _, writer in
                for number in 0..<3 { try await writer.send(Data("chunk \(number)".utf8)) }
            })
            let attempts = Mutex(0)
            let first = Task {
                try await Bus.sendingAgainUntilAResponder(grace: TestEnvironment.lateResponderGrace) {
                    attempts.withLock { $0 += 1 }
                    var chunks = try bus.requestStream(subject, payload: Data(), timeout: TestEnvironment.replyTimeout).makeAsyncIterator()
                    return try await chunks.next().map { String(decoding: $0.payload, as: UTF8.self) }
                }
            }
            try await Task.sleep(for: .milliseconds(200))
            try await withRunning([responder]) {
                let chunk = try await first.value
                #expect(chunk == "chunk 0")
            }
            #expect(attempts.withLock { $0 } > 1)
        }
    }

    @Test func aSlowReaderHoldsTheCalleeToItsWindowAndLosesNothing() async throws {
        try await withBus { bus in
            let subject = "svc.test.\(uniqueName("flow"))"
            let sent = Mutex(0)
            let responder = Responder(bus: bus, subject: subject, queue: "test", logger: TestEnvironment.logger, handler: .streaming { request, writer in
                guard !request.payload.isEmpty else { return }  // the readiness probe
                for number in 0..<1000 {
                    try await writer.send(Data("chunk \(number)".utf8))
                    sent.withLock { $0 += 1 }
                }
            })
            try await withRunning([responder]) {
                try await awaitResponder(bus, subject)
                var chunks: [String] = []
                var iterator = try bus.requestStream(subject, payload: Data("go".utf8), timeout: .seconds(30), window: 16).makeAsyncIterator()
                for _ in 0..<10 { chunks.append(String(decoding: try #require(try await iterator.next()).payload, as: UTF8.self)) }
                // The reader pauses: the callee stops at the window, not at the end.
                try await Task.sleep(for: .milliseconds(500))
                let aheadWhilePaused = sent.withLock { $0 }
                #expect(aheadWhilePaused <= 10 + 16, "the callee sent \(aheadWhilePaused) chunks to a reader that had read 10")
                while let chunk = try await iterator.next() { chunks.append(String(decoding: chunk.payload, as: UTF8.self)) }
                #expect(chunks == (0..<1000).map { "chunk \($0)" })
            }
        }
    }

    @Test func aCallerThatStopsReadingStopsTheStream() async throws {
        try await withBus { bus in
            let subject = "svc.test.\(uniqueName("endless"))"
            let (stopped, stop) = AsyncStream.makeStream(of: Int.self)
            let responder = Responder(bus: bus, subject: subject, queue: "test", logger: TestEnvironment.logger, handler: .streaming { request, writer in
                guard !request.payload.isEmpty else { return }  // the readiness probe
                var sent = 0
                do {
                    while true {
                        try await writer.send(Data("token".utf8))
                        sent += 1
                        try await Task.sleep(for: .milliseconds(10))
                    }
                } catch {
                    stop.yield(sent)
                    throw error
                }
            })
            try await withRunning([responder]) {
                try await awaitResponder(bus, subject)
                var received = 0
                for try await _ in try bus.requestStream(subject, payload: Data("go".utf8), timeout: .seconds(30)) {
                    received += 1
                    if received == 3 { break }
                }
                var iterator = stopped.makeAsyncIterator()
                let sent = await iterator.next()
                #expect(sent != nil && sent! >= 3)
            }
        }
    }
}

@Suite struct BusConnectionTests {
    @Test func connectingWhereNoServerListensNamesTheURL() async throws {
        let url = "nats://127.0.0.1:1"
        await #expect {
            _ = try await Bus.connect(.init(url: url, name: "tests"), logger: TestEnvironment.logger)
        } throws: { error in
            guard case BusError.unreachable(let reported, _) = error else { return false }
            return reported == url && "\(error)".contains(url)
        }
    }
}

@Suite struct BusResilienceTests {
    /// Kills the server and starts it again, each time waiting until `bus` has noticed.
    static func restart(_ server: PrivateNATSServer, _ process: inout ChildProcess, under bus: Bus) async throws {
        process.kill()
        #expect(try await eventually(timeout: .seconds(10)) { !bus.isConnected })
        process = try server.start()
        #expect(try await eventually(timeout: .seconds(20)) { bus.isConnected }, "the bus did not reconnect")
    }

    @Test func theBusReconnectsWhenTheServerComesBack() async throws {
        var (server, process) = try await PrivateNATSServer.started()
        defer { try? FileManager.default.removeItem(at: server.directory) }
        let bus = try await Bus.connect(.init(url: server.url, name: "tests"), logger: TestEnvironment.logger)
        try await bus.ensureStreams()
        let tenant = UUID.timeOrdered()
        try await bus.publish(Envelope(tenantID: tenant, payload: Pinged(number: 1)))

        try await Self.restart(server, &process, under: bus)
        let ack = try await bus.publish(Envelope(tenantID: tenant, payload: Pinged(number: 2)))
        #expect(ack.sequence == 2, "the stream kept its first message across the restart")
        await bus.close()
        process.kill()
    }

    /// Fetches go over the core connection: one asked before the restart ends by itself, and
    /// the consumer's inbox is subscribed again with the rest of the connection.
    @Test func aConsumerGoesOnConsumingAfterTheServerRestarts() async throws {
        var (server, process) = try await PrivateNATSServer.started()
        defer { try? FileManager.default.removeItem(at: server.directory) }
        let bus = try await Bus.connect(.init(url: server.url, name: "tests"), logger: TestEnvironment.logger)
        try await bus.ensureStreams()
        let tenant = UUID.timeOrdered()
        let log = DeliveryLog()
        let consumer = DurableConsumer.recording(into: log, bus: bus, name: "restarted", tenant: tenant)
        try await withRunning([consumer]) {
            try await bus.publish(Envelope(tenantID: tenant, payload: Pinged(number: 1)))
            #expect(await log.next(1).count == 1)
            try await Self.restart(server, &process, under: bus)
            try await bus.publish(Envelope(tenantID: tenant, payload: Pinged(number: 2)))
            let after = await log.next(1, timeout: .seconds(15))
            #expect(try after.map { try $0.decode(Pinged.self).payload.number } == [2])
        }
        await bus.close()
        process.kill()
    }

    /// Deleted by hand (an operator resetting it, say), the consumer is made again, as a
    /// restart would make it, instead of failing every fetch until then.
    @Test func aConsumerDeletedUnderItsServiceIsMadeAgain() async throws {
        try await withBus { bus in
            let tenant = UUID.timeOrdered()
            let name = uniqueName("deleted")
            let log = DeliveryLog()
            let consumer = DurableConsumer.recording(into: log, bus: bus, name: name, tenant: tenant)
            try await withRunning([consumer]) {
                try await bus.publish(Envelope(tenantID: tenant, payload: Pinged(number: 1)))
                #expect(await log.next(1).count == 1)
                try await bus.deleteConsumer(stream: StreamSpec.events.name, name: name)
                try await bus.publish(Envelope(tenantID: tenant, payload: Pinged(number: 2)))
                // Made again from the stream's start: the first event comes again (handlers are
                // idempotent), and the second.
                let after = await log.next(2, timeout: .seconds(15))
                #expect(try after.map { try $0.decode(Pinged.self).payload.number }.sorted() == [1, 2])
            }
        }
    }

    @Test func aRespondersGracefulShutdownAnswersTheRequestsInHand() async throws {
        try await withBus { bus in
            let subject = "svc.test.\(uniqueName("draining"))"
            let (started, start) = AsyncStream.makeStream(of: Void.self)
            let responder = Responder(bus: bus, subject: subject, queue: "test", logger: TestEnvironment.logger, handler: .unary { request in
                guard !request.payload.isEmpty else { return Data() }
                start.yield()
                try await Task.sleep(for: .milliseconds(300))
                return Data("finished".utf8)
            })
            let group = ServiceGroup(configuration: .init(services: [.init(service: responder)], logger: TestEnvironment.logger))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                try await awaitResponder(bus, subject)
                tasks.addTask {
                    var iterator = started.makeAsyncIterator()
                    _ = await iterator.next()
                    await group.triggerGracefulShutdown()
                }
                let reply = try await bus.request(subject, payload: Data("work".utf8), timeout: TestEnvironment.replyTimeout)
                #expect(String(decoding: reply.payload, as: UTF8.self) == "finished")
                try await tasks.waitForAll()
            }
        }
    }
}
