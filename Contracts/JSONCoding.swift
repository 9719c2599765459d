import Foundation

/// The one JSON dialect on Switchyard's wires: snake_case keys (spelled out in each type's
/// `CodingKeys`, because `convertFromSnakeCase` turns `tenant_id` into `tenantId`, not `tenantID`)
/// and ISO-8601 dates with millisecond fractions. A type's keys are written in the order it
/// encodes them (`StreamingJSONEncoder`), a dictionary's in key order; JSON is read as
/// `JSONDecoder` reads it (`TapeJSONDecoder`).
public enum JSONCoding {
    /// For the rare value `StreamingJSONEncoder` cannot write in one pass.
    private static func makeTreeEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(format(date))
        }
        return encoder
    }

    public static func encode(_ value: some Encodable) throws -> Data {
        do {
            return try StreamingJSONEncoder().encode(value)
        } catch StreamingJSONEncoder.Unsupported.needsTree {
            return try makeTreeEncoder().encode(value)
        }
    }

    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try TapeJSONDecoder().decode(type, from: data)
    }

    /// `text` as the inside of a JSON string, escaped as `JSONEncoder` escapes it: quote,
    /// backslash and control characters; the rest as UTF-8, copied in runs.
    public static func appendEscaped(_ text: String, to bytes: inout [UInt8]) {
        var text = text
        text.withUTF8 { utf8 in
            var unescaped = 0
            for index in utf8.indices {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[unescaped..<index]))
                bytes.append(UInt8(ascii: "\\"))
                switch byte {
                case 0x08: bytes.append(UInt8(ascii: "b"))
                case 0x09: bytes.append(UInt8(ascii: "t"))
                case 0x0A: bytes.append(UInt8(ascii: "n"))
                case 0x0C: bytes.append(UInt8(ascii: "f"))
                case 0x0D: bytes.append(UInt8(ascii: "r"))
                case ..<0x20: bytes.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xF)]])
                default: bytes.append(byte)  // the quote or the backslash itself
                }
                unescaped = index + 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[unescaped...]))
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// `2025-01-02T03:04:05.678Z`. Milliseconds are counted as an integer, so a date made by
    /// `Date.roundedToMilliseconds` prints and parses back to the same `Date`. Written by hand
    /// (every event carries a date): the calendar arithmetic is the proleptic Gregorian one of
    /// `Date.ISO8601FormatStyle`, which writes the years it cannot.
    public static func format(_ date: Date) -> String {
        let (seconds, milliseconds) = date.millisecondsSince1970.floorDivided(by: 1000)
        let (days, secondOfDay) = seconds.floorDivided(by: 86_400)
        let (year, month, day) = Civil.date(fromDays: days)
        guard (0...9999).contains(year) else {
            let base = Date(timeIntervalSince1970: Double(seconds)).formatted(wholeSecondsStyle)
            return base.dropLast() + "." + String(milliseconds + 1000).dropFirst() + "Z"
        }
        let fields: [(value: Int64, width: Int, then: UInt8)] = [
            (year, 4, UInt8(ascii: "-")), (month, 2, UInt8(ascii: "-")), (day, 2, UInt8(ascii: "T")),
            (secondOfDay / 3600, 2, UInt8(ascii: ":")), (secondOfDay / 60 % 60, 2, UInt8(ascii: ":")), (secondOfDay % 60, 2, UInt8(ascii: ".")),
            (milliseconds, 3, UInt8(ascii: "Z")),
        ]
        var text = [UInt8]()
        text.reserveCapacity(24)
        for field in fields {
            var divisor: Int64 = 1
            for _ in 1..<field.width { divisor *= 10 }
            while divisor > 0 {
                text.append(UInt8(ascii: "0") + UInt8(field.value / divisor % 10))
                divisor /= 10
            }
            text.append(field.then)
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// Accepts ISO-8601 with or without a fraction of a second (digits past milliseconds are
    /// dropped). The usual form, `YYYY-MM-DDTHH:MM:SS[.fff…]Z`, is read by hand; any other (an
    /// offset instead of `Z`, say) goes to `Date.ISO8601FormatStyle`. A date or time out of
    /// range (30 February, hour 24) is refused in every form: the style would carry it over into
    /// the next month or day, and a caller who wrote it meant something else.
    public static func parse(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        if let fields = DateTimeFields(bytes), !fields.inRange { return nil }
        if let milliseconds = parseUTC(bytes) { return Date(millisecondsSince1970: milliseconds) }
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

    /// The numbers of `YYYY-MM-DDTHH:MM:SS` at the start of a text, in range or not.
    private struct DateTimeFields {
        var year, month, day, hour, minute, second: Int64

        init?(_ bytes: [UInt8]) {
            guard bytes.count >= 19 else { return nil }
            func number(_ range: Range<Int>) -> Int64? {
                guard bytes[range].allSatisfy(JSONCoding.isDigit) else { return nil }
                return bytes[range].reduce(0) { $0 * 10 + Int64($1 - UInt8(ascii: "0")) }
            }
            let separators: [(Int, Character)] = [(4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":")]
            guard separators.allSatisfy({ bytes[$0.0] == $0.1.asciiValue }),
                  let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
                  let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19) else { return nil }
            (self.year, self.month, self.day, self.hour, self.minute, self.second) = (year, month, day, hour, minute, second)
        }

        var inRange: Bool {
            (1...12).contains(month) && day >= 1 && day <= Civil.days(inMonth: month, of: year) && hour < 24 && minute < 60 && second < 60
        }
    }

    private static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

    /// Unix milliseconds of `YYYY-MM-DDTHH:MM:SS[.fff…]Z` with its fields in range; nil for
    /// anything else.
    private static func parseUTC(_ bytes: [UInt8]) -> Int64? {
        guard bytes.count >= 20, bytes.last == UInt8(ascii: "Z"), let fields = DateTimeFields(bytes), fields.inRange else { return nil }
        var milliseconds: Int64 = 0
        if bytes.count > 20 {
            // A dot and at least one digit before the `Z`; digits past milliseconds are dropped.
            let fraction = bytes[20..<(bytes.count - 1)]
            guard bytes[19] == UInt8(ascii: "."), !fraction.isEmpty, fraction.allSatisfy(isDigit) else { return nil }
            for (place, byte) in zip([100, 10, 1] as [Int64], fraction) { milliseconds += place * Int64(byte - UInt8(ascii: "0")) }
        }
        let days = Civil.days(fromYear: fields.year, month: fields.month, day: fields.day)
        return (days * 86_400 + fields.hour * 3600 + fields.minute * 60 + fields.second) * 1000 + milliseconds
    }

    private static let wholeSecondsStyle = Date.ISO8601FormatStyle()
}

/// Days and dates of the proleptic Gregorian calendar, in UTC (Howard Hinnant's algorithms).
enum Civil {
    static func date(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    static func days(fromYear year: Int64, month: Int64, day: Int64) -> Int64 {
        let year = month <= 2 ? year - 1 : year
        let era = (year >= 0 ? year : year - 399) / 400
        let yearOfEra = year - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func days(inMonth month: Int64, of year: Int64) -> Int64 {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}

extension Int64 {
    /// Quotient rounded down and a remainder that is never negative: what a date before 1970
    /// needs.
    func floorDivided(by divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        let (quotient, remainder) = quotientAndRemainder(dividingBy: divisor)
        return remainder < 0 ? (quotient - 1, remainder + divisor) : (quotient, remainder)
    }
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
