import Contracts
import Foundation
import Hummingbird
import Logging
import Metrics
import SwitchyardAdministration
import SwitchyardBus

/// The first middleware: gives the request its id, turns every error into OpenAI's error body
/// (an unexpected one into a bare 500 with details only in the log), puts `x-request-id` (and
/// the caller's own `x-client-request-id`) on every response, and records the request's metrics.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = GatewayContext

    let routes: RouteTable

    func handle(_ request: Request, context: GatewayContext, next: (Request, GatewayContext) async throws -> Response) async throws -> Response {
        var context = context
        context.logger[metadataKey: "request_id"] = "\(context.requestID)"
        // A caller's own id is logged and echoed, never adopted: usage events and their
        // exactly-once charge are keyed by the request id, so a caller repeating one must not
        // make two calls look like one.
        let clientRequestID = (request.headers[RequestIDs.clientHeader] ?? request.headers[.requestID]).flatMap { RequestIDs.accepts($0) ? $0 : nil }
        if let clientRequestID { context.logger[metadataKey: "client_request_id"] = "\(clientRequestID)" }
        let started = ContinuousClock.now
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            let apiError = apiError(error, request: request, logger: context.logger)
            response = (try? apiError.response(from: request, context: context)) ?? Response(status: .internalServerError)
        }
        response.headers[.requestID] = context.requestID
        if let clientRequestID { response.headers[RequestIDs.clientHeader] = clientRequestID }
        let route = context.endpointPath ?? "unmatched"
        let elapsed = started.duration(to: .now)
        Timer(label: "switchyard_gateway_request_duration_seconds", dimensions: [
            ("route", route), ("method", request.method.rawValue), ("status", String(response.status.code)),
        ]).record(duration: elapsed)
        // The access log; a streamed body is still being written at this point.
        context.logger.info("request", metadata: [
            "method": "\(request.method.rawValue)", "path": "\(request.uri.path)", "status": "\(response.status.code)",
            "duration_ms": "\(elapsed.milliseconds)",
        ])
        return response
    }

    func apiError(_ error: any Error, request: Request, logger: Logger) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as QuotaExceeded:
            return APIError(error)
        case let error as HTTPError:
            return apiError(error, request: request)
        case let error as AdministrationError:
            return APIError.invalid(error.field, error.message)
        default:
            logger.error("request failed", metadata: ["error": "\(String(reflecting: error))"])
            return .internalError
        }
    }

    /// Hummingbird's own errors: routes that do not exist, oversize bodies.
    func apiError(_ error: HTTPError, request: Request) -> APIError {
        switch error.status {
        case .notFound:
            let allowed = routes.methods(for: request.uri.path)
            guard allowed.isEmpty else {
                return APIError(.invalidRequest, "Method \(request.method.rawValue) is not allowed on \(request.uri.path); use \(allowed.joined(separator: ", ")).",
                                code: "method_not_allowed", status: .methodNotAllowed, headers: [.allow: allowed.joined(separator: ", ")])
            }
            return APIError(.invalidRequest, "Unknown request URL: \(request.method.rawValue) \(request.uri.path).",
                            code: "unknown_url", status: .notFound)
        case .methodNotAllowed:
            return APIError(.invalidRequest, "Method \(request.method.rawValue) is not allowed on \(request.uri.path).",
                            code: "method_not_allowed", status: .methodNotAllowed)
        case .contentTooLarge:
            return APIError(.invalidRequest, "The request body is too large.", code: "request_too_large", status: .contentTooLarge)
        default:
            let type = ErrorType.allCases.first { $0.httpStatus == error.status.code } ?? .invalidRequest
            return APIError(type, error.body ?? error.status.reasonPhrase, status: error.status)
        }
    }
}
