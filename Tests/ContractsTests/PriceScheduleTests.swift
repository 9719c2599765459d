import Contracts
import Foundation
import Testing

@Suite struct PriceScheduleTests {
    static let start = Date(timeIntervalSince1970: 1_800_000_000)
    static func at(_ hours: Double) -> Date { start.addingTimeInterval(hours * 3_600) }
    static func price(_ input: Int64) -> Price { Price(inputMicrosPerMillion: input, outputMicrosPerMillion: input * 2) }

    static let schedule = PriceSchedule(
        book: [
            PriceVersion(model: "chat", version: 2, effectiveFrom: at(10), price: price(300)),
            PriceVersion(model: "chat", version: 1, effectiveFrom: at(0), price: price(200)),
        ],
        tenant: [
            PriceVersion(model: "chat", version: 1, effectiveFrom: at(5), price: price(100)),
            PriceVersion(model: "chat", version: 2, effectiveFrom: at(20), price: nil),
        ])

    @Test func aCallIsPricedByTheVersionInForceWhenItOccurred() {
        #expect(Self.schedule.price(of: "chat", at: Self.at(-1)) == nil, "before any version: the catalog's price")
        #expect(Self.schedule.price(of: "chat", at: Self.at(0))! == (Self.price(200), "book:1"))
        #expect(Self.schedule.price(of: "chat", at: Self.at(4.99))! == (Self.price(200), "book:1"))
        #expect(Self.schedule.price(of: "chat", at: Self.at(5))! == (Self.price(100), "tenant:1"), "the tenant's own price comes first")
        #expect(Self.schedule.price(of: "chat", at: Self.at(15))! == (Self.price(100), "tenant:1"), "whatever the book does meanwhile")
        #expect(Self.schedule.price(of: "chat", at: Self.at(20))! == (Self.price(300), "book:2"), "a version without prices puts the book back")
        #expect(Self.schedule.price(of: "other", at: Self.at(20)) == nil)
    }
}

@Suite struct PriceTests {
    @Test func costIsRoundedOnceHalfUp() {
        let price = Price(inputMicrosPerMillion: 500_000, outputMicrosPerMillion: 1_500_000)
        #expect(price.costMicros(promptTokens: 1_000_000, completionTokens: 0) == 500_000)
        #expect(price.costMicros(promptTokens: 12, completionTokens: 30) == 51)  // 6 + 45
        #expect(price.costMicros(promptTokens: 1, completionTokens: 0) == 1)  // 0.5 rounds up
        #expect(price.costMicros(promptTokens: 0, completionTokens: 0) == 0)
        // Two sides of 0.4 each would round to 0 apiece; together they are 0.8 and round to 1.
        #expect(Price(inputMicrosPerMillion: 400_000, outputMicrosPerMillion: 400_000).costMicros(promptTokens: 1, completionTokens: 1) == 1)
    }

    @Test func aReservationIsRoundedUpNeverShortOfTheCost() {
        let price = Price(inputMicrosPerMillion: 1, outputMicrosPerMillion: 0)
        #expect(price.costMicros(promptTokens: 1, completionTokens: 0) == 0)
        #expect(price.reservedMicros(promptTokens: 1, completionTokens: 0) == 1)
        #expect(price.reservedMicros(promptTokens: 2_000_000, completionTokens: 0) == 2, "exact amounts are not rounded")
        let json = String(decoding: try! JSONCoding.encode(price), as: UTF8.self)
        #expect(json.contains(#""input_micros_per_million":1"#) && json.contains(#""output_micros_per_million":0"#))
    }
}

