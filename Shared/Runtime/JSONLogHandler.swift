import Contracts
import Foundation
import Logging

/// Writes one JSON object per line to standard error: time, level, service, instance, message
/// and the metadata (request_id, correlation_id, …) as fields, for log collectors to index.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    /// `"service":…,"instance":…`, the same on every line.
    let fixedFields: [UInt8]

    public init(label: String, service: String, instance: String) {
        self.label = label
        var fixedFields = Array(#""service":"#.utf8)
        Self.append(service, to: &fixedFields)
        fixedFields += #","instance":"#.utf8
        Self.append(instance, to: &fixedFields)
        self.fixedFields = fixedFields
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        FileHandle.standardError.write(Data(line(for: event)))
    }

    /// The line for one event, newline included.
    public func render(_ event: LogEvent) -> String {
        String(decoding: line(for: event), as: UTF8.self)
    }

    /// Written as bytes: a gateway logs every request, and string interpolation cost it more
    /// than the JSON of the call it logged.
    private func line(for event: LogEvent) -> [UInt8] {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { _, new in new } }
        if let extra = event.metadata { fields.merge(extra) { _, new in new } }
        var line: [UInt8] = []
        line.reserveCapacity(256)
        line += #"{"ts":""#.utf8
        line += JSONCoding.format(Date()).utf8
        line += #"","level":""#.utf8
        line += event.level.rawValue.utf8
        line += #"","#.utf8
        line += fixedFields
        line += #","logger":"#.utf8
        Self.append(label, to: &line)
        line += #","msg":"#.utf8
        Self.append(event.message.description, to: &line)
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
            line.append(UInt8(ascii: ","))
            Self.append(key, to: &line)
            line.append(UInt8(ascii: ":"))
            Self.append(value, to: &line)
        }
        line += "}\n".utf8
        return line
    }

    private static func append(_ value: Logger.MetadataValue, to line: inout [UInt8]) {
        switch value {
        case .string(let text): append(text, to: &line)
        case .stringConvertible(let value): append(value.description, to: &line)
        case .array(let values):
            line.append(UInt8(ascii: "["))
            for (index, value) in values.enumerated() {
                if index > 0 { line.append(UInt8(ascii: ",")) }
                append(value, to: &line)
            }
            line.append(UInt8(ascii: "]"))
        case .dictionary(let values):
            line.append(UInt8(ascii: "{"))
            for (index, (key, value)) in values.sorted(by: { $0.key < $1.key }).enumerated() {
                if index > 0 { line.append(UInt8(ascii: ",")) }
                append(key, to: &line)
                line.append(UInt8(ascii: ":"))
                append(value, to: &line)
            }
            line.append(UInt8(ascii: "}"))
        }
    }

    private static func append(_ text: String, to line: inout [UInt8]) {
        line.append(UInt8(ascii: "\""))
        JSONCoding.appendEscaped(text, to: &line)
        line.append(UInt8(ascii: "\""))
    }
}
