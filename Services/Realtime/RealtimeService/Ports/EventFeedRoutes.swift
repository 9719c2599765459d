import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import Synchronization
import SwitchyardBus
import SwitchyardDatabase
import SwitchyardRuntime

/// `GET /v1/realtime`: a WebSocket carrying the caller's tenant's events, one text message
/// each, `{"id": "<opaque position>", "event": <envelope>}`, from the moment it opens, or from the event
/// after `last_event_id` (a query parameter, or the `Last-Event-ID` header) when a client
/// reconnects; `types` (e.g. `usage.recorded,budget.threshold_crossed`) keeps those types only.
/// It needs an API key with `realtime:subscribe` (`Authorization: Bearer`), or a ticket a gateway
/// issued (`?ticket=`, `POST /v1/realtime/tickets`, for browsers and members signed in with
/// the identity provider; it opens one socket), checked before the socket opens.
/// A refused socket opens and closes at once with code 4000 + the HTTP status (4401, 4403, 4400,
/// 4503) and the error's message as the reason, which a WebSocket client can read, unlike the
/// status of a refused handshake; a plain HTTP request gets the status and OpenAI's error body.
struct EventFeedRoutes: Sendable {
    let database: Database
    let bus: Bus
    let feeds: OpenFeeds
    let cursors: EventCursors
    /// Nil: tickets are refused.
    let tickets: RealtimeTicketSigner?
    /// Keys and tenants whose tickets no longer open sockets.
    let revocations: RecentRevocations
    let idleWait: Duration

    func add(to router: Router<RealtimeContext>) {
        router.ws("/v1/realtime", shouldUpgrade: { request, context in
            guard request.headers[.upgrade]?.lowercased() == "websocket" else {
                _ = try await authorize(request)
                throw Refusal(.invalidRequest, "Open /v1/realtime as a WebSocket.", code: "upgrade_required", status: .upgradeRequired)
            }
            do {
                let asked = try await authorize(request)
                if let ticket = asked.who.ticket, try await !TicketUses.redeem(ticket, in: database) {
                    throw Refusal(.authentication, "The ticket has opened a socket already; ask POST /v1/realtime/tickets for another.",
                                  code: "ticket_used")
                }
                let who = asked.who
                // Opened before the socket: no event published once the client holds an open
                // socket is missed. One type is filtered by the stream, several by the feed.
                let subject = if let types = asked.types, types.count == 1 {
                    Subject.event(tenant: who.tenantID, type: types[0])
                } else {
                    Subject.events(ofTenant: who.tenantID)
                }
                let reader = try await StreamReader(
                    bus: bus, stream: StreamSpec.events.name, filterSubject: subject, from: asked.start, wait: idleWait, logger: context.logger)
                context.socket.set(.feed(Subscriber(
                    tenantID: who.tenantID, apiKeyID: who.apiKeyID, subject: who.subject, expiresAt: who.expiresAt,
                    types: asked.types.map { Set($0.map(\.description)) }, reader: reader)))
            } catch let refusal as Refusal {
                context.socket.set(.refused(refusal))
            } catch {
                context.logger.error("a socket cannot be opened", metadata: ["error": "\(error)"])
                context.socket.set(.refused(Refusal(.serviceUnavailable, "Events cannot be read right now; please retry.", code: "events_unavailable")))
            }
            return .upgrade([:])
        }, onUpgrade: { inbound, outbound, context in
            switch context.requestContext.socket.get() {
            case .feed(let subscriber):
                try await feeds.run(EventFeed(subscriber: subscriber, cursors: cursors, logger: context.logger), inbound: inbound, outbound: outbound)
            case .refused(let refusal):
                try await outbound.close(WebSocketErrorCode(codeNumber: 4000 + refusal.status.code), reason: refusal.reason)
            case nil:
                return
            }
        })
    }

    /// Who opens a socket: from their API key or their ticket.
    struct Opener {
        var tenantID: UUID
        var apiKeyID: UUID?
        var subject: String?
        /// When the credential expires, which ends the socket.
        var expiresAt: Date?
        /// The ticket that opens the socket, if one does.
        var ticket: RealtimeTicketClaims?
    }

    /// What a socket asks for, once its opener may have it.
    struct Asked {
        var who: Opener
        var start: StreamReader.Start
        /// Nil: every type.
        var types: [EventType]?
    }

    /// Checks the caller's ticket or key and reads what it asks for; throws the refusal to answer.
    func authorize(_ request: Request) async throws -> Asked {
        let who = try await opener(request)
        var types: [EventType]?
        if let given = request.uri.queryParameters["types"] {
            let names = given.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            let parsed = names.compactMap(EventType.init)
            guard !names.isEmpty, parsed.count == names.count else {
                throw Refusal(.invalidRequest, "types must list event types separated by commas, e.g. usage.recorded,budget.threshold_crossed.",
                              code: "invalid_value", param: "types")
            }
            types = parsed
        }
        guard let given = request.uri.queryParameters["last_event_id"].map(String.init) ?? request.headers[.lastEventID] else {
            return Asked(who: who, start: .new, types: types)
        }
        guard let last = cursors.sequence(of: given, tenant: who.tenantID) else {
            throw Refusal(.invalidRequest, "last_event_id must be the id of an event a socket of yours was sent.", code: "invalid_value",
                          param: "last_event_id")
        }
        return Asked(who: who, start: .after(last), types: types)
    }

    /// A ticket's opener (the gateway checked their permission when it issued it), or an API
    /// key's, which must allow `realtime:subscribe`.
    private func opener(_ request: Request) async throws -> Opener {
        if let ticket = request.uri.queryParameters["ticket"] {
            guard let tickets, let claims = tickets.claims(of: String(ticket)),
                  !revocations.contains(claims.apiKeyID), !revocations.contains(claims.tenantID) else {
                throw Refusal(.authentication, "The ticket is not valid or has expired; ask POST /v1/realtime/tickets for another.",
                              code: "invalid_ticket")
            }
            return Opener(
                tenantID: claims.tenantID, apiKeyID: claims.apiKeyID, subject: claims.subject, expiresAt: claims.credentialExpiresAt, ticket: claims)
        }
        guard let authorization = request.headers[.authorization], authorization.lowercased().hasPrefix("bearer ") else {
            throw Refusal(.authentication, "You didn't provide an API key. You need to provide your API key in an Authorization header "
                          + "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or a ticket (?ticket=) from POST /v1/realtime/tickets.",
                          code: "missing_api_key")
        }
        let key: ResolvedAPIKey
        switch try await APIKeyRepository.resolve(String(authorization.dropFirst("bearer ".count)), using: database) {
        case .failure(let rejection): throw Refusal(.authentication, rejection.message, code: rejection.code)
        case .success(let resolved): key = resolved
        }
        guard key.role.can(.realtimeSubscribe) else {
            throw Refusal(.permission, "Your role does not allow this (it needs `\(Permission.realtimeSubscribe.rawValue)`).",
                          code: "insufficient_permissions")
        }
        return Opener(tenantID: key.tenantID, apiKeyID: key.id, subject: nil, expiresAt: key.expiresAt)
    }
}

/// Who opened a socket, and the read of its tenant's events.
struct Subscriber: Sendable {
    var tenantID: UUID
    /// The key that opened it; nil for a member's ticket.
    var apiKeyID: UUID?
    /// The member whose ticket opened it.
    var subject: String?
    /// When the credential expires, which ends the socket.
    var expiresAt: Date?
    /// The event types sent (`usage.recorded`); nil for every type.
    var types: Set<String>?
    var reader: StreamReader
}

/// The request context of the realtime server: it carries what the upgrade check decided to
/// the socket, in a box, as the socket gets the context as it was before the check.
struct RealtimeContext: RequestContext, WebSocketRequestContext {
    enum Socket: Sendable {
        case feed(Subscriber)
        case refused(Refusal)
    }

    final class SocketBox: Sendable {
        private let value = Mutex<Socket?>(nil)
        func set(_ socket: Socket) { value.withLock { $0 = socket } }
        func get() -> Socket? { value.withLock { $0 } }
    }

    var coreContext: CoreRequestContextStorage
    let webSocket: WebSocketHandlerReference<Self>
    let socket = SocketBox()

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
    }
}

/// A refused socket: its HTTP status and OpenAI's error body.
struct Refusal: HTTPResponseError {
    var status: HTTPResponse.Status
    var body: ErrorBody

    init(_ type: ErrorType, _ message: String, code: String, param: String? = nil, status: HTTPResponse.Status? = nil) {
        self.status = status ?? HTTPResponse.Status(code: type.httpStatus)
        body = ErrorBody(message: message, type: type, code: code, param: param)
    }

    /// The message as a close frame's reason, which holds 123 bytes at most.
    var reason: String {
        var reason = body.error.message
        while reason.utf8.count > 123 { reason.removeLast() }
        return reason
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try JSONCoding.encode(body))))
    }
}

extension HTTPField.Name {
    static let lastEventID = HTTPField.Name("Last-Event-ID")!
}
