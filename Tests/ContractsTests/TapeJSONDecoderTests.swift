@testable import Contracts
import Foundation
import Testing

/// `JSONCoding.decode` reads JSON with `TapeJSONDecoder`; these hold it to what `JSONDecoder`
/// accepts, refuses and answers.
@Suite struct TapeJSONDecoderTests {
    static func foundation<T: Decodable>(_ type: T.Type, _ text: String) -> Result<T, any Error> {
        Result { try JSONDecoder().decode(type, from: Data(text.utf8)) }
    }

    static func tape<T: Decodable>(_ type: T.Type, _ text: String) -> Result<T, any Error> {
        Result { try JSONCoding.decode(type, from: Data(text.utf8)) }
    }

    /// Random documents, and random damage done to them: both decoders read the same value
    /// from each, or both refuse it.
    @Test func readsAndRefusesWhatJSONDecoderDoes() {
        var generator = SystemRandomNumberGenerator()
        let pieces = ["{", "}", "[", "]", ",", ":", "\"", "\\", "\\u00e9", "\\ud83d\\ude00", "\\ud800", "1", "-", "0", ".", "e", "E", "+",
                      "true", "false", "null", "nul", " ", "\n", "\t", "é", "\u{1}", "\u{7F}", "a", "/", "\\/", "\\x"]
        var documents = (0..<3000).map { _ in Self.randomDocument(depth: 0, using: &generator) }
        documents += documents.prefix(2000).map { document in
            var characters = Array(document)
            for _ in 0...Int.random(in: 0...2, using: &generator) {
                let piece = pieces.randomElement(using: &generator)!
                let at = Int.random(in: 0...characters.count, using: &generator)
                if Bool.random(using: &generator), at < characters.count {
                    characters.remove(at: at)
                } else {
                    characters.insert(contentsOf: piece, at: at)
                }
            }
            return String(characters)
        }
        documents += ["", " ", "\u{FEFF}{}", "\u{FEFF}", "1 2", "[1,]", "{\"a\":1,}", "[01]", "[1.]", "[.5]", "[-]", "[1e]", "[1e+]",
                      "[\"\\u12\"]", "[\"\t\"]", "[1e400]", "[-1e-400]", "[12345678901234567890]", "[9223372036854775807]",
                      "[-9223372036854775808]", "[1.0]", "[1E2]", "{\"a\":1,\"a\":2}", "  {\"a\" : [ 1 , {} ] }  "]
        var accepted = 0
        for document in documents {
            let expected = Self.foundation(JSONValue.self, document)
            let read = Self.tape(JSONValue.self, document)
            switch (expected, read) {
            case (.success(let expected), .success(let read)):
                #expect(expected == read, "\(document)")
                accepted += 1
            case (.failure, .failure): break
            // JSONDecoder checks a value only when it decodes it, and skips a duplicate key's;
            // the tape checks every value, as JSONSerialization does.
            case (.success, .failure) where (try? JSONSerialization.jsonObject(with: Data(document.utf8), options: .fragmentsAllowed)) == nil: break
            default: Issue.record("JSONDecoder: \(expected), tape: \(read) for \(document.debugDescription)")
            }
        }
        #expect(accepted > 3000)
    }

    static func randomDocument(depth: Int, using generator: inout some RandomNumberGenerator) -> String {
        let strings = ["", "a", "tenant_id", "é and 世界 🚢", "quote \\\" back \\\\ slash \\/ \\b\\f\\n\\r\\t", "\\u0041\\u00e9\\u4e16\\ud83d\\ude00", "  "]
        let numbers = ["0", "-0", "7", "-12", "3.25", "-0.5", "1e3", "2E-2", "6.02e+23", "9007199254740993", "1.0", "123456789012"]
        switch Int.random(in: 0..<(depth > 3 ? 4 : 7), using: &generator) {
        case 0: return "\"" + strings.randomElement(using: &generator)! + "\""
        case 1: return numbers.randomElement(using: &generator)!
        case 2: return ["true", "false"].randomElement(using: &generator)!
        case 3: return "null"
        case 4, 5:
            let members = (0..<Int.random(in: 0...4, using: &generator)).map { _ in
                "\"" + strings.randomElement(using: &generator)! + "\" : " + randomDocument(depth: depth + 1, using: &generator)
            }
            return "{" + members.joined(separator: ",") + "}"
        default:
            let elements = (0..<Int.random(in: 0...4, using: &generator)).map { _ in randomDocument(depth: depth + 1, using: &generator) }
            return "[ " + elements.joined(separator: ", ") + " ]"
        }
    }

    @Test func nestsAsDeepAsJSONDecoderAndNoDeeper() throws {
        let deepest = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
        #expect(throws: Never.self) { try JSONCoding.decode(JSONValue.self, from: Data(deepest.utf8)) }
        let deeper = String(repeating: "[", count: 513) + String(repeating: "]", count: 513)
        #expect(throws: DecodingError.self) { try JSONCoding.decode(JSONValue.self, from: Data(deeper.utf8)) }
        // A million brackets are refused, not followed down the stack.
        let attack = String(repeating: "[", count: 1_000_000)
        #expect(throws: DecodingError.self) { try JSONCoding.decode(JSONValue.self, from: Data(attack.utf8)) }
    }

    @Test func refusesInvalidUTF8() {
        for bytes: [UInt8] in [[0x22, 0xFF, 0x22], [0x22, 0xC3, 0x22], [0x22, 0x5C, 0x6E, 0xED, 0xA0, 0x80, 0x22]] {
            #expect(throws: DecodingError.self) { try JSONCoding.decode(String.self, from: Data(bytes)) }
            #expect(throws: DecodingError.self) { try JSONDecoder().decode(String.self, from: Data(bytes)) }
        }
    }

    struct Numbers: Decodable, Equatable {
        var int: Int
        var small: Int8?
        var unsigned: UInt?
        var double: Double?
        var float: Float?
    }

    @Test func readsNumbersIntoTheirTypesAsJSONDecoderDoes() throws {
        for document in [#"{"int":1.0}"#, #"{"int":1e2}"#, #"{"int":-0,"unsigned":-0}"#, #"{"int":-9223372036854775808,"small":-128}"#,
                         #"{"int":5,"double":1,"float":0.1}"#, #"{"int":5,"double":123456789012345678901234567890}"#,
                         #"{"int":5,"double":2.5e-3,"float":-3.4e38}"#, #"{"int":9007199254740.993e4}"#, #"{"int":1e-400}"#,
                         #"{"int":-12.500e1}"#, #"{"int":0e99999}"#] {
            #expect(try Self.tape(Numbers.self, document).get() == Self.foundation(Numbers.self, document).get(), "\(document)")
        }
        // A number that does not fit is refused at its own path (JSONDecoder calls the whole
        // document invalid), so the API can name the field.
        for (document, key) in [(#"{"int":1.5}"#, "int"), (#"{"int":9223372036854775808}"#, "int"), (#"{"int":1,"small":300}"#, "small"),
                                (#"{"int":1,"unsigned":-1}"#, "unsigned"), (#"{"int":1,"double":1e400}"#, "double"), (#"{"int":1,"float":1e39}"#, "float")] {
            #expect(throws: DecodingError.self) { try Self.foundation(Numbers.self, document).get() }
            #expect {
                try Self.tape(Numbers.self, document).get()
            } throws: { error in
                guard case DecodingError.dataCorrupted(let context) = error else { return false }
                return context.codingPath.map(\.stringValue) == [key]
            }
        }
    }

    struct Call: Decodable {
        var model: String
        var messages: [Message]
        var maxTokens: Int?

        struct Message: Decodable {
            var role: String
            var content: String
        }

        enum CodingKeys: String, CodingKey {
            case model, messages
            case maxTokens = "max_tokens"
        }
    }

    /// The kind and coding path of each error, which the gateway turns into the field it names.
    @Test func answersTheErrorsJSONDecoderAnswers() {
        let documents = [
            #"{"messages":[]}"#,  // a missing key
            #"{"model":"m","messages":[{"role":"user"}]}"#,  // a missing key, nested
            #"{"model":"m","messages":[{"role":"user","content":"a"},{"role":"user","content":7}]}"#,  // a type, at an index
            #"{"model":null,"messages":[]}"#,  // null for a value
            #"{"model":"m","messages":{}}"#,  // an object for an array
            #"{"model":"m","messages":[],"max_tokens":"9"}"#,  // a string for a number
            #"[]"#, #""text""#, "{\"model\":\"m\",", "nonsense",
        ]
        for document in documents {
            let expected = Self.foundation(Call.self, document)
            let read = Self.tape(Call.self, document)
            guard case .failure(let expectedError as DecodingError) = expected, case .failure(let readError as DecodingError) = read else {
                Issue.record("\(document): \(expected) / \(read)")
                continue
            }
            #expect(Self.summary(readError) == Self.summary(expectedError), "\(document)")
        }
    }

    static func summary(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, let context): "key \(key.stringValue) at \(context.codingPath.map(\.stringValue))"
        case .typeMismatch(let type, let context): "type \(type) at \(context.codingPath.map(\.stringValue))"
        case .valueNotFound(let type, let context): "null for \(type) at \(context.codingPath.map(\.stringValue))"
        case .dataCorrupted(let context): "corrupted at \(context.codingPath.map(\.stringValue))"
        @unknown default: "\(error)"
        }
    }

    struct Keys: Decodable, Equatable {
        var a: Int
        var map: [String: Int]
    }

    @Test func takesTheFirstOfDuplicateKeysAsJSONDecoderDoes() throws {
        let document = #"{"a":1,"map":{"x":1,"x":2,"é":3,"\u00e9":4},"a":2}"#
        #expect(try Self.tape(Keys.self, document).get() == Self.foundation(Keys.self, document).get())
        #expect(try Self.tape(Keys.self, document).get() == Keys(a: 1, map: ["x": 1, "é": 3]))
    }

    @Test func readsWhatJSONCodingWrites() throws {
        let id = UUID()
        let event = Envelope(tenantID: id, correlationID: "req_\"1\"", payload: UsageRecorded(
            requestID: "req_1", apiKeyID: UUID(), model: "m", deployment: "d", promptTokens: 3, completionTokens: 2,
            costMicros: 1234, latencyMs: 12, ttftMs: 5, status: .succeeded))
        #expect(try JSONCoding.decode(Envelope<UsageRecorded>.self, from: JSONCoding.encode(event)) == event)
        // A UUID is read in either case, as `UUID(uuidString:)` reads it.
        #expect(try JSONCoding.decode(UUID.self, from: Data("\"\(id.uuidString.lowercased())\"".utf8)) == id)
        for bad in ["\"\(id.uuidString.dropLast())\"", "\"\(id.uuidString.replacingOccurrences(of: "-", with: "_"))\"", "\"\"", "7"] {
            #expect(throws: DecodingError.self) { try JSONCoding.decode(UUID.self, from: Data(bad.utf8)) }
        }
        #expect(try JSONCoding.decode(Data.self, from: Data(#""AAEC+g==""#.utf8)) == Data([0, 1, 2, 250]))
        #expect(throws: DecodingError.self) { try JSONCoding.decode(Data.self, from: Data(#""not base64""#.utf8)) }
        #expect(throws: DecodingError.self) { try JSONCoding.decode(Date.self, from: Data(#""yesterday""#.utf8)) }
    }
}
