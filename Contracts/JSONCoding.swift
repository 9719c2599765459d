import Foundation

/// The one JSON dialect on Switchyard's wires: snake_case keys (spelled out in each type's
/// `CodingKeys`, because `convertFromSnakeCase` turns `tenant_id` into `tenantId`, not `tenantID`)
/// and ISO-8601 dates with millisecond fractions.
public enum JSONCoding {
    public static func makeEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(format(date))
        }
        return encoder
    }

    public static func makeDecoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = parse(text) else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "expected an ISO-8601 date, got \"\(text)\"")
            }
            return date
        }
        return decoder
    }

    public static func encode(_ value: some Encodable) throws -> Data {
        try makeEncoder().encode(value)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try makeDecoder().decode(type, from: data)
    }

    /// `2025-01-02T03:04:05.678Z`. Milliseconds are counted as an integer, so a date made by
    /// `Date.roundedToMilliseconds` prints and parses back to the same `Date`.
    public static func format(_ date: Date) -> String {
        let milliseconds = date.millisecondsSince1970
        let (seconds, fraction) = milliseconds.quotientAndRemainder(dividingBy: 1000)
        let (wholeSeconds, positiveFraction) = fraction < 0 ? (seconds - 1, fraction + 1000) : (seconds, fraction)
        let base = Date(timeIntervalSince1970: Double(wholeSeconds)).formatted(wholeSecondsStyle)
        return base.dropLast() + "." + String(positiveFraction + 1000).dropFirst() + "Z"
    }

    /// Accepts ISO-8601 with or without a fraction of a second (digits past milliseconds are
    /// dropped).
    public static func parse(_ text: String) -> Date? {
        var whole = text
        var milliseconds: Int64 = 0
        if let dot = text.firstIndex(of: ".") {
            let digits = text[text.index(after: dot)...].prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty else { return nil }
            milliseconds = Int64(String((digits + "00").prefix(3)))!
            whole = String(text[..<dot]) + text[text.index(dot, offsetBy: digits.count + 1)...]
        }
        guard let date = try? wholeSecondsStyle.parse(whole) else { return nil }
        return Date(millisecondsSince1970: Int64(date.timeIntervalSince1970.rounded()) * 1000 + milliseconds)
    }

    private static let wholeSecondsStyle = Date.ISO8601FormatStyle()
}

extension Date {
    /// Unix time in whole milliseconds, rounded to the nearest.
    public var millisecondsSince1970: Int64 { Int64((timeIntervalSince1970 * 1000).rounded()) }

    public init(millisecondsSince1970 milliseconds: Int64) {
        self.init(timeIntervalSince1970: Double(milliseconds) / 1000)
    }

    /// This instant to the millisecond: what survives a trip through the JSON dialect, so a
    /// value that was sent equals the value that arrives.
    public var roundedToMilliseconds: Date { Date(millisecondsSince1970: millisecondsSince1970) }
}
