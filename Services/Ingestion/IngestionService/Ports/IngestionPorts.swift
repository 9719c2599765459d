import Contracts
import Foundation
import Logging
import Metrics
import SwitchyardBus

/// Ingestion's ports: the durable consumer of `document.uploaded`, and the verbs of
/// `svc.ingestion.*` (`IngestionVerb`) the gateway calls.
struct IngestionPorts {
    let bus: Bus
    let documents: Documents
    let indexing: DocumentIndexing
    let search: DocumentSearch
    let config: IngestionConfig
    /// The consumer's durable name.
    let consumerName: String
    let logger: Logger

    /// Shared by every ingestion replica (one durable name), so each document is indexed by one;
    /// a few at once, so as not to crowd the router. A document whose embeddings cannot be made
    /// now is tried again for about two hours before it is marked failed.
    func uploadConsumer(filterSubject: String = Subject.events(ofType: DocumentUploaded.eventType)) -> DurableConsumer {
        let spec = ConsumerSpec.longWork(name: consumerName, filterSubject: filterSubject, ackWait: config.ackWait, inFlight: 4)
        let maxDeliver = spec.maxDeliver
        return DurableConsumer(bus: bus, spec: spec, logger: logger) { delivery in await handle(delivery, maxDeliver: maxDeliver) }
    }

    func handle(_ delivery: Delivery, maxDeliver: Int) async -> HandlerOutcome {
        let event: Envelope<DocumentUploaded>
        do { event = try delivery.decode(DocumentUploaded.self) } catch { return .poison(reason: "unreadable document event: \(error)") }
        do {
            switch try await indexing.index(event) {
            case .indexed(let chunks):
                delivery.logger.info("document indexed", metadata: ["document": "\(event.payload.documentID)", "chunks": "\(chunks)"])
                Counter(label: "switchyard_ingestion_documents_total", dimensions: [("outcome", "indexed")]).increment()
                Counter(label: "switchyard_ingestion_chunks_total").increment(by: chunks)
            case .failed(let reason):
                delivery.logger.warning("document not indexed", metadata: ["document": "\(event.payload.documentID)", "reason": "\(reason)"])
                Counter(label: "switchyard_ingestion_documents_total", dimensions: [("outcome", "failed")]).increment()
            case .nothingToDo:
                break
            case .notStored:
                return .awaitingCommit(since: event.occurredAt, attempt: delivery.attempt, maxDeliver: maxDeliver)
            }
            return .done
        } catch {
            delivery.logger.warning("document not indexed yet", metadata: ["document": "\(event.payload.documentID)", "error": "\(error)"])
            guard delivery.attempt < maxDeliver else {
                // The last delivery: the document is marked failed rather than left processing.
                // The reason is the tenant's to read: the router's words, never the database's.
                let why = (error as? EmbeddingFailure)?.description ?? "the document store was unavailable"
                do {
                    _ = try await indexing.fail(event, reason: "It could not be indexed after \(delivery.attempt) attempts: \(why)")
                    Counter(label: "switchyard_ingestion_documents_total", dimensions: [("outcome", "failed")]).increment()
                    return .done
                } catch {
                    return .poison(reason: "document \(event.payload.documentID) could not be indexed nor marked failed: \(error)")
                }
            }
            return .retry(after: .seconds(min(300, 5 << min(delivery.attempt, 6))))
        }
    }

    func responders() -> [Responder] {
        [
            verb(IngestionVerb.create) { (call: DocumentCreateCall) in try await documents.create(call) },
            verb(IngestionVerb.list) { (call: DocumentListCall) in try await documents.list(call) },
            verb(IngestionVerb.show) { (call: DocumentCall) in try await documents.show(call) },
            verb(IngestionVerb.update) { (call: DocumentUpdateCall) in try await documents.update(call) },
            verb(IngestionVerb.delete) { (call: DocumentCall) in try await documents.delete(call) },
            Responder(bus: bus, subject: Subject.service(.ingestion, IngestionVerb.search), queue: ServiceName.ingestion.rawValue, logger: logger,
                      handler: .reply { request in
                          let started = ContinuousClock.now
                          let (results, cost) = try await search.search(try request.decode(SearchCall.self))
                          Timer(label: "switchyard_ingestion_search_seconds").record(duration: started.duration(to: .now))
                          var headers = [RouterHeader.totalTokens: String(results.usage.totalTokens)]
                          headers[RouterHeader.costMicros] = cost.map(String.init)
                          return BusReply(payload: try JSONCoding.encode(results), headers: headers)
                      }),
        ]
    }

    private func verb<Call: Decodable & SendableMetatype, Answer: Encodable & SendableMetatype>(
        _ verb: String, _ answer: @escaping @Sendable (Call) async throws -> Answer
    ) -> Responder {
        Responder.verb(.ingestion, verb, bus: bus, logger: logger, answer)
    }
}
