import Contracts
import Foundation
import Testing

/// Encodes, decodes and compares: the value that arrives is the value that was sent.
func roundTrip<T: Codable & Equatable>(_ value: T) throws -> T {
    let data = try JSONCoding.encode(value)
    let decoded = try JSONCoding.decode(T.self, from: data)
    #expect(decoded == value, "\(T.self) changed on its way through JSON: \(String(decoding: data, as: UTF8.self))")
    return decoded
}

func json(_ value: some Encodable) throws -> [String: Any] {
    try JSONSerialization.jsonObject(with: JSONCoding.encode(value)) as! [String: Any]
}

@Suite struct EnvelopeTests {
    let tenant = UUID()

    @Test func everyEventPayloadRoundTripsInItsEnvelope() throws {
        _ = try roundTrip(Envelope(tenantID: tenant, payload: TenantCreated(name: "Acme")))
        _ = try roundTrip(Envelope(tenantID: tenant, payload: TenantSuspended(reason: "unpaid")))
        _ = try roundTrip(Envelope(tenantID: tenant, payload: TenantReactivated()))
        _ = try roundTrip(Envelope(tenantID: tenant, correlationID: "req_1", causationID: "evt_0", traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                                   payload: APIKeyCreated(apiKeyID: UUID(), name: "ci", prefix: "sk-sy-AbCdEfGhIj", role: .developer,
                                                          expiresAt: Date().roundedToMilliseconds, allowedModels: ["local-chat"])))
        _ = try roundTrip(Envelope(tenantID: tenant, payload: APIKeyRevoked(apiKeyID: UUID(), prefix: "sk-sy-AbCdEfGhIj", revokedAt: Date())))
        _ = try roundTrip(Envelope(tenantID: tenant, payload: UsageRecorded(
            requestID: "req_01", apiKeyID: UUID(), model: "local-chat", deployment: "local/local-chat",
            promptTokens: 12, completionTokens: 30, costMicros: 1_250, latencyMs: 41, ttftMs: 7, status: .succeeded)))
        _ = try roundTrip(Envelope(tenantID: tenant, payload: DocumentUploaded(documentID: UUID(), name: "a.md", bytes: 12)))
        _ = try roundTrip(Envelope(tenantID: tenant, payload: DocumentIndexed(documentID: UUID(), chunkCount: 3, embeddingModel: "local-embedding")))
        _ = try roundTrip(Envelope(tenantID: tenant, payload: DocumentFailed(documentID: UUID(), reason: "no text")))
    }

    @Test func documentsAndSearchResultsRoundTrip() throws {
        let document = Document(
            id: UUID(), name: "a.md", mediaType: .markdown, bytes: 12, status: .indexed, chunkCount: 1, embeddingModel: "local-embedding",
            failure: nil, createdAt: Date().roundedToMilliseconds, indexedAt: Date().roundedToMilliseconds)
        _ = try roundTrip(DocumentList(data: [document], hasMore: false))
        _ = try roundTrip(DocumentCreateCall(tenantID: tenant, apiKeyID: UUID(), requestID: "req_1", embeddingModel: "local-embedding", upload: DocumentUpload(name: "a.md", text: "# A", mediaType: .markdown)))
        _ = try roundTrip(SearchCall(tenantID: tenant, apiKeyID: nil, requestID: "req_1", embeddingModel: "local-embedding", search: SearchRequest(query: "a", limit: 3, documentIDs: [document.id])))
        _ = try roundTrip(SearchResults(data: [.init(documentID: document.id, documentName: "a.md", chunkIndex: 0, text: "A", score: 0.032,
                                                     similarity: 0.5, keywordRank: nil)], model: "local-embedding",
                                        usage: .init(promptTokens: 2)))
        let object = try json(document)
        #expect(object["media_type"] as? String == "text/markdown" && object["chunk_count"] as? Int == 1 && object["object"] as? String == "document")
    }

    @Test func theWireIsSnakeCaseWithMillisecondDates() throws {
        let envelope = Envelope(
            tenantID: tenant, occurredAt: Date(timeIntervalSince1970: 1_700_000_000.123456), correlationID: "req_9",
            payload: UsageRecorded(requestID: "req_9", apiKeyID: nil, model: "m", deployment: "d", promptTokens: 1,
                                   completionTokens: 2, costMicros: 3, latencyMs: 4, status: .cancelled))
        let object = try json(envelope)
        #expect(Set(object.keys) == ["id", "type", "version", "tenant_id", "occurred_at", "correlation_id", "payload"])
        #expect(object["occurred_at"] as? String == "2023-11-14T22:13:20.123Z")
        #expect(object["type"] as? String == "usage.recorded")
        let payload = object["payload"] as! [String: Any]
        #expect(Set(payload.keys) == ["request_id", "model", "deployment", "prompt_tokens", "completion_tokens",
                                      "cost_micros", "latency_ms", "status"])
    }

    @Test func datesWithoutFractionsAreAccepted() throws {
        let text = #"{"name":"x"}"#
        _ = try JSONCoding.decode(TenantCreated.self, from: Data(text.utf8))
        let revoked = #"{"api_key_id":"6F9619FF-8B86-D011-B42D-00CF4FC964FF","prefix":"p","revoked_at":"2025-01-02T03:04:05Z"}"#
        let decoded = try JSONCoding.decode(APIKeyRevoked.self, from: Data(revoked.utf8))
        #expect(decoded.revokedAt == Date(timeIntervalSince1970: 1_735_787_045))
    }

    @Test func anEnvelopeNamesItsSubject() {
        let envelope = Envelope(tenantID: UUID(uuidString: "0190E5A4-0000-7000-8000-000000000001")!, payload: TenantCreated(name: "a"))
        #expect(envelope.subject == "evt.0190e5a4-0000-7000-8000-000000000001.tenant.created")
    }

    @Test func theHeaderOfAnyEnvelopeDecodesWithoutItsPayload() throws {
        let envelope = Envelope(tenantID: tenant, correlationID: "req_3", payload: TenantCreated(name: "a"))
        let header = try JSONCoding.decode(EnvelopeHeader.self, from: JSONCoding.encode(envelope))
        #expect(header.id == envelope.id && header.type == TenantCreated.eventType && header.tenantID == tenant)
        #expect(header.correlationID == "req_3")
        _ = try roundTrip(header)
    }

    @Test func anInvalidEventTypeIsRefused() {
        #expect(EventType("usage") == nil)
        #expect(EventType("usage.recorded.extra") == nil)
        #expect(EventType("usage.*") == nil)
        #expect(EventType("usage.recorded") == UsageRecorded.eventType)
        #expect(throws: DecodingError.self) {
            try JSONCoding.decode(EventType.self, from: Data(#""us age.recorded""#.utf8))
        }
    }
}

@Suite struct TimeOrderedIDTests {
    @Test func idsSortInTheOrderTheyWereMade() {
        let ids = (0..<10_000).map { _ in UUID.timeOrdered() }
        #expect(ids.map(\.uuidString) == ids.map(\.uuidString).sorted())
        #expect(Set(ids).count == ids.count)
    }

    @Test func idsAreVersion7AndCarryTheirTime() {
        let date = Date(timeIntervalSince1970: 1_750_000_000.250)
        let id = UUID.timeOrdered(at: date)
        #expect(id.uuidString.dropFirst(14).first == "7")
        #expect(id.timeOrderedDate == date)
        #expect(UUID(uuidString: "6F9619FF-8B86-D011-B42D-00CF4FC964FF")!.timeOrderedDate == nil)
    }

    @Test func idsOfLaterMillisecondsSortLater() {
        let early = UUID.timeOrdered(at: Date(timeIntervalSince1970: 1_000))
        let late = UUID.timeOrdered(at: Date(timeIntervalSince1970: 2_000))
        #expect(early.uuidString < late.uuidString)
    }
}

@Suite struct SubjectTests {
    let tenant = UUID(uuidString: "0190E5A4-0000-7000-8000-000000000001")!

    @Test func subjectsFollowTheirPatterns() {
        #expect(Subject.event(tenant: tenant, type: UsageRecorded.eventType) == "evt.0190e5a4-0000-7000-8000-000000000001.usage.recorded")
        #expect(Subject.events(ofType: UsageRecorded.eventType) == "evt.*.usage.recorded")
        #expect(Subject.events(ofTenant: tenant) == "evt.0190e5a4-0000-7000-8000-000000000001.>")
        #expect(Subject.service(.router, "chat") == "svc.router.chat")
        #expect(Subject.deadLetter(consumer: "billing-usage", originalSubject: "evt.t.usage.recorded") == "dlq.billing-usage.evt.t.usage.recorded")
        #expect(Subject.deadLetters(consumer: "billing-usage") == "dlq.billing-usage.>")
    }

    @Test func tokensRejectSeparatorsWildcardsAndSpaces() {
        #expect(SubjectToken.isValid("billing-usage"))
        for bad in ["", "a.b", "a*", ">", "a b", "a\tb"] { #expect(!SubjectToken.isValid(bad), "\(bad)") }
    }

    @Test func serviceNamesRoundTrip() throws {
        for name in ServiceName.allCases { _ = try roundTrip([name]) }
    }
}

@Suite struct ErrorBodyTests {
    @Test func theErrorBodyHasOpenAIsShapeWithNulls() throws {
        let body = ErrorBody(message: "Invalid model.", type: .invalidRequest)
        let text = String(decoding: try JSONCoding.encode(body), as: UTF8.self)
        #expect(text == #"{"error":{"message":"Invalid model.","type":"invalid_request_error","param":null,"code":null}}"#)
        _ = try roundTrip(body)
        _ = try roundTrip(ErrorBody(message: "m", type: .rateLimit, code: "rate_limit_exceeded", param: "messages"))
    }

    @Test func errorTypesMapToOpenAIsStatuses() {
        #expect(ErrorType.invalidRequest.httpStatus == 400)
        #expect(ErrorType.authentication.httpStatus == 401)
        #expect(ErrorType.permission.httpStatus == 403)
        #expect(ErrorType.notFound.httpStatus == 404)
        #expect(ErrorType.rateLimit.httpStatus == 429)
        #expect(ErrorType.insufficientQuota.httpStatus == 429)
        #expect(ErrorType.server.httpStatus == 500)
    }

    @Test func serviceFaultsRoundTrip() throws {
        _ = try roundTrip(ServiceFault(code: "model_not_found", message: "no model x", param: "model"))
    }
}

@Suite struct PermissionMatrixTests {
    @Test func ownersMayDoEverything() {
        #expect(Role.owner.permissions == Set(Permission.allCases))
    }

    @Test func onlyOwnersManageTheTenant() {
        for role in Role.allCases { #expect(role.can(.tenantManage) == (role == .owner), "\(role)") }
    }

    @Test func viewersOnlyRead() {
        let writes: [Permission] = [.inference, .keysManage, .documentsWrite, .workflowsWrite, .workflowsRun, .billingManage, .catalogManage]
        for permission in writes { #expect(!Role.viewer.can(permission), "\(permission)") }
    }

    @Test func billingSeesMoneyButCannotSpendIt() {
        #expect(Role.billing.can(.invoicesRead) && Role.billing.can(.billingManage))
        #expect(!Role.billing.can(.inference) && !Role.billing.can(.keysManage))
    }

    @Test func developersCallModelsButDoNotManageKeysOrMoney() {
        #expect(Role.developer.can(.inference))
        #expect(!Role.developer.can(.keysManage) && !Role.developer.can(.billingManage) && !Role.developer.can(.auditRead))
    }

    @Test func everyRoleIsASubsetOfOwner() {
        for role in Role.allCases { #expect(role.permissions.isSubset(of: Role.owner.permissions)) }
    }

    @Test func rolesAndPermissionsRoundTrip() throws {
        _ = try roundTrip(Role.allCases)
        _ = try roundTrip(Permission.allCases)
    }
}
