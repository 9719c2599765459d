import Foundation

extension URLComponents {
    /// The host of a `postgres://`, `redis://` or `nats://` URL as a connection takes it: an
    /// IPv6 address without the brackets it is written in.
    public var serverHost: String? {
        guard let host, host.hasPrefix("["), host.hasSuffix("]") else { return host }
        return String(host.dropFirst().dropLast())
    }
}
