import Contracts
import Hummingbird
import HTTPTypes

extension Response {
    /// A JSON body in Switchyard's one JSON dialect (`JSONCoding`).
    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try JSONCoding.encode(value))))
    }
}
