import Contracts
import Foundation
import Testing

/// The wire's dates are written and read by hand; Foundation's ISO-8601 style is the reference.
@Suite struct DateFormatTests {
    static let style = Date.ISO8601FormatStyle()

    /// What `Date.ISO8601FormatStyle` writes for the whole second, with the milliseconds after it.
    static func reference(_ milliseconds: Int64) -> String {
        let seconds = Int64((Double(milliseconds) / 1000).rounded(.down))
        let base = Date(timeIntervalSince1970: Double(seconds)).formatted(style)
        return base.dropLast() + "." + String(milliseconds - seconds * 1000 + 1000).dropFirst() + "Z"
    }

    /// Dates from 1900 to 2200, leap days and the ends of months, years and the epoch.
    static let instants: [Int64] = {
        var generator = SystemRandomNumberGenerator()
        let edges: [Int64] = [0, -1, 1, 999, -999, -1000, 86_399_999, 951_782_400_000, 4_107_542_399_999, 1_709_164_800_000, -2_208_988_800_000]
        return edges + (0..<5000).map { _ in Int64.random(in: -2_208_988_800_000...7_258_118_400_000, using: &generator) }
    }()

    @Test func formatsAsTheISO8601StyleDoes() {
        for milliseconds in Self.instants {
            let date = Date(millisecondsSince1970: milliseconds)
            #expect(JSONCoding.format(date) == Self.reference(milliseconds), "\(milliseconds)")
            #expect(JSONCoding.parse(JSONCoding.format(date)) == date, "\(milliseconds)")
        }
    }

    @Test func readsFractionsOffsetsAndRefusesWhatIsNoDateOrOutOfRange() throws {
        let noon = Date(millisecondsSince1970: 1_709_208_000_000)  // 2024-02-29T12:00:00Z
        for text in ["2024-02-29T12:00:00Z", "2024-02-29T12:00:00.0Z", "2024-02-29T12:00:00.000000000Z", "2024-02-29T13:00:00+01:00"] {
            #expect(JSONCoding.parse(text) == noon, "\(text)")
        }
        #expect(JSONCoding.parse("2024-02-29T12:00:00.1Z")?.millisecondsSince1970 == 1_709_208_000_100)
        #expect(JSONCoding.parse("2024-02-29T12:00:00.12Z")?.millisecondsSince1970 == 1_709_208_000_120)
        #expect(JSONCoding.parse("2024-02-29T12:00:00.123999Z")?.millisecondsSince1970 == 1_709_208_000_123)
        // Fields out of range are refused, with or without an offset; the style would carry
        // them over (29 February 2023 as 1 March).
        #expect((try? Self.style.parse("2023-02-29T12:00:00Z")) != nil)
        for text in ["2024-02-29T12:00:00.Z",
                     "2023-02-29T12:00:00Z", "2023-02-29T12:00:00.5Z", "2023-02-29T13:00:00+01:00", "2024-04-31T00:00:00Z",
                     "2024-02-29T24:00:00Z", "2024-02-29T12:60:00Z", "2024-02-29T12:00:60Z", "2024-13-01T00:00:00Z", "2024-00-01T00:00:00Z",
                     "2024-02-00T00:00:00+02:00", "2024-02-29T12:00:00.1x2Z", "2024-02-29 12:00:00Z", "2024-02-29T12:00Z", "yesterday", ""] {
            #expect(JSONCoding.parse(text) == nil, "\(text)")
        }
    }
}
