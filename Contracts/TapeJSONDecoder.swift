import Foundation

/// Decodes a value from JSON in the dialect of `JSONCoding`, at a fraction of `JSONDecoder`'s
/// cost: one pass checks the document and records each value's kind and place in a flat tape,
/// and the value then reads its members from the tape, by comparing bytes, without a dictionary
/// per object.
///
/// What it accepts and refuses is `JSONDecoder`'s: RFC 8259 JSON (a byte order mark, white space
/// around and a comma before a closing bracket allowed), nesting at most 512 deep, strings of
/// valid UTF-8 without lone surrogates, an integer type taking `1.0` or `1e2` but not `1.5` or a
/// number out of its range, a duplicate key's first value. Two differences, both stricter or
/// clearer: every value is checked as the document is read (`JSONDecoder` checks a string's
/// escapes or a number's digits only when it decodes them, so it lets a bad one pass in a
/// duplicate key's value, which it skips), and a number that does not fit its type is
/// `dataCorrupted` at the number's path (`JSONDecoder` calls the whole document invalid), so an
/// API can name the field. Other errors are the same `DecodingError`s with the same coding paths.
struct TapeJSONDecoder {
    static let maximumDepth = 512

    func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try data.withUnsafeBytes { bytes in
            var parser = TapeParser(bytes: bytes)
            let tape = try parser.parseDocument()
            return try TapeDocument(bytes: bytes, tape: tape).decode(T.self, at: 0, path: .root)
        }
    }
}

/// One value of the document: a scalar, or a container followed on the tape by its members
/// (an object's as key, value, key, value…).
struct TapeEntry {
    enum Kind: UInt8 { case null, `false`, `true`, number, string, array, object }

    var kind: Kind
    /// A string with a backslash in it; a number with a fraction or an exponent.
    var flagged = false
    /// Where the value's bytes start: a string's after its opening quote.
    var start: Int
    /// Bytes of a scalar (a string's between its quotes); members or elements of a container.
    var count: Int
    /// The index on the tape after this value and everything in it.
    var next: Int
}

/// Checks a document and writes its tape.
struct TapeParser {
    let bytes: UnsafeRawBufferPointer
    var position = 0
    var tape: [TapeEntry] = []

    init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        tape.reserveCapacity(64)
    }

    /// The tape, with a null entry at its end for `superDecoder` of a missing key.
    mutating func parseDocument() throws -> [TapeEntry] {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { position = 3 }
        skipWhiteSpace()
        try parseValue(depth: 1)
        skipWhiteSpace()
        guard position == bytes.count else { throw invalid("unexpected text after the value") }
        tape.append(TapeEntry(kind: .null, start: 0, count: 0, next: tape.count + 1))
        return tape
    }

    private func invalid(_ reason: String) -> DecodingError {
        DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "The given data was not valid JSON: \(reason) at byte \(position)."))
    }

    private mutating func skipWhiteSpace() {
        while position < bytes.count {
            switch bytes[position] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"): position += 1
            default: return
            }
        }
    }

    private mutating func parseValue(depth: Int) throws {
        guard position < bytes.count else { throw invalid("the document ends where a value should be") }
        switch bytes[position] {
        case UInt8(ascii: "{"): try parseContainer(.object, depth: depth)
        case UInt8(ascii: "["): try parseContainer(.array, depth: depth)
        case UInt8(ascii: "\""): try parseString()
        case UInt8(ascii: "t"): try parseLiteral("true", .true)
        case UInt8(ascii: "f"): try parseLiteral("false", .false)
        case UInt8(ascii: "n"): try parseLiteral("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try parseNumber()
        default: throw invalid("unexpected character")
        }
    }

    private mutating func parseContainer(_ kind: TapeEntry.Kind, depth: Int) throws {
        guard depth <= TapeJSONDecoder.maximumDepth else { throw invalid("nesting deeper than \(TapeJSONDecoder.maximumDepth)") }
        let closing = kind == .object ? UInt8(ascii: "}") : UInt8(ascii: "]")
        let index = tape.count
        tape.append(TapeEntry(kind: kind, start: position, count: 0, next: 0))
        position += 1
        skipWhiteSpace()
        var count = 0
        if position < bytes.count, bytes[position] == closing {
            position += 1
        } else {
            while true {
                if kind == .object {
                    guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw invalid("expected a key") }
                    try parseString()
                    skipWhiteSpace()
                    guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw invalid("expected ':' after a key") }
                    position += 1
                    skipWhiteSpace()
                }
                try parseValue(depth: depth + 1)
                count += 1
                skipWhiteSpace()
                guard position < bytes.count else { throw invalid("the document ends inside a container") }
                let byte = bytes[position]
                position += 1
                if byte == closing { break }
                guard byte == UInt8(ascii: ",") else { throw invalid("expected ',' or '\(Character(UnicodeScalar(closing)))'") }
                skipWhiteSpace()
                // A comma before the closing bracket, which `JSONDecoder` lets pass.
                if position < bytes.count, bytes[position] == closing {
                    position += 1
                    break
                }
            }
        }
        tape[index].count = count
        tape[index].next = tape.count
    }

    private mutating func parseString() throws {
        position += 1  // the opening quote
        let start = position
        var escaped = false
        while true {
            guard position < bytes.count else { throw invalid("the document ends inside a string") }
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") { break }
            guard byte >= 0x20 else { throw invalid("a control character inside a string") }
            if byte == UInt8(ascii: "\\") {
                escaped = true
                position += 1
                guard position < bytes.count else { throw invalid("the document ends inside a string") }
                switch bytes[position] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                     UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    break
                case UInt8(ascii: "u"):
                    guard position + 4 < bytes.count, (1...4).allSatisfy({ Self.hexValue(bytes[position + $0]) != nil }) else {
                        throw invalid("an escape \\u without four hexadecimal digits")
                    }
                    position += 4
                default: throw invalid("an unknown escape")
                }
            }
            position += 1
        }
        tape.append(TapeEntry(kind: .string, flagged: escaped, start: start, count: position - start, next: tape.count + 1))
        position += 1  // the closing quote
    }

    private mutating func parseLiteral(_ word: StaticString, _ kind: TapeEntry.Kind) throws {
        let length = word.utf8CodeUnitCount
        guard position + length <= bytes.count,
              UnsafeRawBufferPointer(start: word.utf8Start, count: length).elementsEqual(bytes[position..<(position + length)]) else {
            throw invalid("unexpected character")
        }
        tape.append(TapeEntry(kind: kind, start: position, count: length, next: tape.count + 1))
        position += length
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    private mutating func parseNumber() throws {
        let start = position
        var fractional = false
        if bytes[position] == UInt8(ascii: "-") { position += 1 }
        guard position < bytes.count, Self.isDigit(bytes[position]) else { throw invalid("a number without digits") }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
            guard position == bytes.count || !Self.isDigit(bytes[position]) else { throw invalid("a number with a leading zero") }
        } else {
            skipDigits()
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            fractional = true
            position += 1
            guard position < bytes.count, Self.isDigit(bytes[position]) else { throw invalid("a number without digits after its point") }
            skipDigits()
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
            fractional = true
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") { position += 1 }
            guard position < bytes.count, Self.isDigit(bytes[position]) else { throw invalid("a number without digits in its exponent") }
            skipDigits()
        }
        tape.append(TapeEntry(kind: .number, flagged: fractional, start: start, count: position - start, next: tape.count + 1))
    }

    private mutating func skipDigits() {
        while position < bytes.count, Self.isDigit(bytes[position]) { position += 1 }
    }

    static func isDigit(_ byte: UInt8) -> Bool { byte &- UInt8(ascii: "0") < 10 }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// The checked document and its tape, which the decoder and its containers read values from.
/// Its bytes are borrowed for the length of `TapeJSONDecoder.decode`: a value reads what it
/// needs in its `init(from:)` and keeps no decoder or container past it.
final class TapeDocument {
    let bytes: UnsafeRawBufferPointer
    let tape: [TapeEntry]

    init(bytes: UnsafeRawBufferPointer, tape: [TapeEntry]) {
        self.bytes = bytes
        self.tape = tape
    }

    var nullIndex: Int { tape.count - 1 }

    func decode<T: Decodable>(_ type: T.Type, at index: Int, path: @autoclosure () -> PathNode) throws -> T {
        // Types compared, not values cast: a cast costs a lookup in the runtime's caches.
        if T.self == String.self { return unsafeBitCast(try string(at: index, path: path(), as: T.self), to: T.self) }
        if T.self == Int.self { return unsafeBitCast(try integer(Int.self, at: index, path: path()), to: T.self) }
        if T.self == Bool.self { return unsafeBitCast(try bool(at: index, path: path()), to: T.self) }
        // An array decodes its elements through this generic method, scalars too.
        if T.self == Int64.self { return unsafeBitCast(try integer(Int64.self, at: index, path: path()), to: T.self) }
        if T.self == Double.self { return unsafeBitCast(try floatingPoint(Double.self, at: index, path: path()), to: T.self) }
        if T.self == Float.self { return unsafeBitCast(try floatingPoint(Float.self, at: index, path: path()), to: T.self) }
        if T.self == Date.self {
            let text = try string(at: index, path: path(), as: T.self)
            guard let date = JSONCoding.parse(text) else { throw corrupted(path(), "expected an ISO-8601 date, got \"\(text)\"") }
            return unsafeBitCast(date, to: T.self)
        }
        if T.self == UUID.self {
            guard let uuid = uuid(at: index) else {
                _ = try string(at: index, path: path(), as: T.self)
                throw corrupted(path(), "Attempted to decode UUID from invalid UUID string.")
            }
            return unsafeBitCast(uuid, to: T.self)
        }
        if T.self == JSONValue.self { return unsafeBitCast(try jsonValue(at: index, path: path()), to: T.self) }
        if T.self == Data.self {
            guard let data = Data(base64Encoded: try string(at: index, path: path(), as: T.self)) else {
                throw corrupted(path(), "Encountered Data is not valid Base64.")
            }
            return unsafeBitCast(data, to: T.self)
        }
        if T.self == URL.self {
            guard let url = URL(string: try string(at: index, path: path(), as: T.self)) else { throw corrupted(path(), "Invalid URL string.") }
            return unsafeBitCast(url, to: T.self)
        }
        if let dictionary = T.self as? any StringKeyedDecodable.Type {
            return try dictionary.decodeMembers(at: index, in: self, path: path()) as! T
        }
        return try T(from: TapeDecoder(document: self, index: index, path: path()))
    }

    // MARK: Scalars

    func kindName(_ kind: TapeEntry.Kind) -> String {
        switch kind {
        case .null: "null"
        case .false, .true: "bool"
        case .number: "number"
        case .string: "a string"
        case .array: "an array"
        case .object: "a dictionary"
        }
    }

    /// The error for a value of the wrong kind: `valueNotFound` for null, as `JSONDecoder` says.
    func mismatch(_ type: Any.Type, at index: Int, path: @autoclosure () -> PathNode) -> DecodingError {
        let kind = tape[index].kind
        if kind == .null {
            return .valueNotFound(type, .init(codingPath: path().codingPath, debugDescription: "Cannot get value of type \(type) -- found null value instead"))
        }
        return .typeMismatch(type, .init(codingPath: path().codingPath, debugDescription: "Expected to decode \(type) but found \(kindName(kind)) instead."))
    }

    func corrupted(_ path: @autoclosure () -> PathNode, _ description: String) -> DecodingError {
        .dataCorrupted(.init(codingPath: path().codingPath, debugDescription: description))
    }

    func bool(at index: Int, path: @autoclosure () -> PathNode) throws -> Bool {
        switch tape[index].kind {
        case .true: true
        case .false: false
        default: throw mismatch(Bool.self, at: index, path: path())
        }
    }

    func string(at index: Int, path: @autoclosure () -> PathNode, as type: Any.Type = String.self) throws -> String {
        let entry = tape[index]
        guard entry.kind == .string else { throw mismatch(type, at: index, path: path()) }
        let raw = UnsafeRawBufferPointer(rebasing: bytes[entry.start..<(entry.start + entry.count)])
        if !entry.flagged {
            guard let text = String(validating: raw, as: UTF8.self) else { throw corrupted(path(), "The string is not valid UTF-8.") }
            return text
        }
        guard let text = unescape(raw) else { throw corrupted(path(), "The string is not valid UTF-8 or has an unpaired surrogate.") }
        return text
    }

    /// The text of a string with escapes; nil for invalid UTF-8 or an unpaired surrogate.
    private func unescape(_ raw: UnsafeRawBufferPointer) -> String? {
        var utf8: [UInt8] = []
        utf8.reserveCapacity(raw.count)
        var position = 0
        func hex4(at offset: Int) -> UInt32 {
            (0..<4).reduce(0) { $0 << 4 | UInt32(TapeParser.hexValue(raw[offset + $1])!) }
        }
        while position < raw.count {
            let byte = raw[position]
            guard byte == UInt8(ascii: "\\") else {
                utf8.append(byte)
                position += 1
                continue
            }
            let escape = raw[position + 1]
            position += 2
            switch escape {
            case UInt8(ascii: "b"): utf8.append(0x08)
            case UInt8(ascii: "f"): utf8.append(0x0C)
            case UInt8(ascii: "n"): utf8.append(0x0A)
            case UInt8(ascii: "r"): utf8.append(0x0D)
            case UInt8(ascii: "t"): utf8.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = hex4(at: position)
                position += 4
                if (0xD800..<0xDC00).contains(scalar) {
                    // A high surrogate must be followed by an escaped low one.
                    guard position + 6 <= raw.count, raw[position] == UInt8(ascii: "\\"), raw[position + 1] == UInt8(ascii: "u") else { return nil }
                    let low = hex4(at: position + 2)
                    guard (0xDC00..<0xE000).contains(low) else { return nil }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    position += 6
                } else if (0xDC00..<0xE000).contains(scalar) {
                    return nil
                }
                utf8.append(contentsOf: String(Character(UnicodeScalar(scalar)!)).utf8)
            default: utf8.append(escape)  // quote, backslash, slash
            }
        }
        return String(validating: utf8, as: UTF8.self)
    }

    /// An integer as `JSONDecoder` reads one: digits, or a fraction or exponent that leaves a
    /// whole number (`1.0`, `1e2`); out of the type's range is an error at the number's path.
    func integer<T: FixedWidthInteger>(_ type: T.Type, at index: Int, path: @autoclosure () -> PathNode) throws -> T {
        guard tape[index].kind == .number else { throw mismatch(T.self, at: index, path: path()) }
        guard let value = exactInteger(T.self, at: index) else {
            throw corrupted(path(), "Number \(String(decoding: numberText(at: index), as: UTF8.self)) is not representable in \(T.self).")
        }
        return value
    }

    /// The number at `index` if it is a whole number `T` holds. A fraction or an exponent is
    /// worked out on the decimal digits, as `JSONDecoder` does (`9007199254740.993e4` is
    /// 90071992547409930, which a `Double` cannot hold); only an exponent too small for them
    /// goes through `Double` (`1e-400` is 0).
    func exactInteger<T: FixedWidthInteger>(_ type: T.Type, at index: Int) -> T? {
        let text = numberText(at: index)
        let negative = text[0] == UInt8(ascii: "-")
        guard tape[index].flagged else { return Self.integer(T.self, digits: UnsafeRawBufferPointer(rebasing: text.dropFirst(negative ? 1 : 0)), negative: negative) }
        var digits: [UInt8] = []
        var scale = 0
        var position = negative ? 1 : 0
        while position < text.count, TapeParser.isDigit(text[position]) { digits.append(text[position]); position += 1 }
        if position < text.count, text[position] == UInt8(ascii: ".") {
            position += 1
            while position < text.count, TapeParser.isDigit(text[position]) { digits.append(text[position]); scale -= 1; position += 1 }
        }
        if position < text.count {  // the exponent
            position += 1
            let exponentNegative = text[position] == UInt8(ascii: "-")
            if text[position] == UInt8(ascii: "-") || text[position] == UInt8(ascii: "+") { position += 1 }
            var exponent = 0
            while position < text.count {
                exponent = min(exponent * 10 + Int(text[position] - UInt8(ascii: "0")), 100_000)
                position += 1
            }
            scale += exponentNegative ? -exponent : exponent
        }
        if scale < 0 {
            let dropped = digits.suffix(-scale)
            guard dropped.allSatisfy({ $0 == UInt8(ascii: "0") }) else {
                return dropped.count < digits.count ? nil : Double(String(decoding: text, as: UTF8.self)).flatMap { T(exactly: $0) }
            }
            digits.removeLast(dropped.count)
        }
        guard var value = digits.withUnsafeBytes({ Self.integer(T.self, digits: $0, negative: negative) }) else { return nil }
        if value != 0 {
            for _ in 0..<max(scale, 0) {
                let (shifted, overflow) = value.multipliedReportingOverflow(by: 10)
                guard !overflow else { return nil }
                value = shifted
            }
        }
        return value
    }

    /// Decimal digits as a `T`, nil when it cannot hold them. Worked out in `UInt64` (the
    /// widest integer a contract has) so that only the last step depends on `T`.
    private static func integer<T: FixedWidthInteger>(_ type: T.Type, digits: UnsafeRawBufferPointer, negative: Bool) -> T? {
        var magnitude: UInt64 = 0
        for byte in digits {
            let (shifted, overflow) = magnitude.multipliedReportingOverflow(by: 10)
            let (next, overflowAgain) = shifted.addingReportingOverflow(UInt64(byte &- UInt8(ascii: "0")))
            guard !overflow, !overflowAgain else { return nil }
            magnitude = next
        }
        guard negative, magnitude != 0 else { return T(exactly: magnitude) }
        guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
        return T(exactly: magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude))
    }

    private func numberText(at index: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[tape[index].start..<(tape[index].start + tape[index].count)])
    }

    func floatingPoint<T: BinaryFloatingPoint & LosslessStringConvertible>(_ type: T.Type, at index: Int, path: @autoclosure () -> PathNode) throws -> T {
        let entry = tape[index]
        guard entry.kind == .number else { throw mismatch(T.self, at: index, path: path()) }
        let written = String(decoding: numberText(at: index), as: UTF8.self)
        guard let value = T(written), value.isFinite else { throw corrupted(path(), "Number \(written) is not representable in \(T.self).") }
        return value
    }

    /// `XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX` in either case, as `UUID(uuidString:)` reads it.
    func uuid(at index: Int) -> UUID? {
        let entry = tape[index]
        guard entry.kind == .string, entry.count == 36, !entry.flagged else { return nil }
        var uuid: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let parsed = withUnsafeMutableBytes(of: &uuid) { target -> Bool in
            var offset = entry.start
            for byteIndex in 0..<16 {
                if byteIndex == 4 || byteIndex == 6 || byteIndex == 8 || byteIndex == 10 {
                    guard bytes[offset] == UInt8(ascii: "-") else { return false }
                    offset += 1
                }
                guard let high = TapeParser.hexValue(bytes[offset]), let low = TapeParser.hexValue(bytes[offset + 1]) else { return false }
                target[byteIndex] = high << 4 | low
                offset += 2
            }
            return true
        }
        return parsed ? UUID(uuid: uuid) : nil
    }

    /// As `JSONValue.init(from:)` reads one from `JSONDecoder`: a number is an integer when it
    /// is one `Int64` takes.
    func jsonValue(at index: Int, path: @autoclosure () -> PathNode) throws -> JSONValue {
        let entry = tape[index]
        switch entry.kind {
        case .null: return .null
        case .false: return .bool(false)
        case .true: return .bool(true)
        case .string: return .string(try string(at: index, path: path()))
        case .number:
            if let integer = exactInteger(Int64.self, at: index) { return .integer(integer) }
            return .number(try floatingPoint(Double.self, at: index, path: path()))
        case .array:
            var values: [JSONValue] = []
            values.reserveCapacity(entry.count)
            var element = index + 1
            for position in 0..<entry.count {
                values.append(try jsonValue(at: element, path: .index(position, parent: path())))
                element = tape[element].next
            }
            return .array(values)
        case .object:
            return .object(try [String: JSONValue].decodeMembers(at: index, in: self, path: path()))
        }
    }

    /// Calls `body` with each member's key index and value index, in the document's order.
    func forEachMember(of index: Int, _ body: (_ key: Int, _ value: Int) throws -> Bool) rethrows {
        var key = index + 1
        for _ in 0..<tape[index].count {
            let value = key + 1
            guard try body(key, value) else { return }
            key = tape[value].next
        }
    }

    /// Whether the key at `index` is `name`: compared as bytes unless the key has escapes.
    func key(at index: Int, is name: String) -> Bool {
        let entry = tape[index]
        guard !entry.flagged else { return (try? string(at: index, path: .root)) == name }
        var name = name
        return name.withUTF8 { utf8 in
            utf8.count == entry.count && (entry.count == 0 || memcmp(utf8.baseAddress!, bytes.baseAddress! + entry.start, entry.count) == 0)
        }
    }

    /// The value of the first member named `name`, as `JSONDecoder` takes a duplicate key.
    func member(of object: Int, named name: String) -> Int? {
        var found: Int?
        forEachMember(of: object) { key, value in
            if self.key(at: key, is: name) { found = value }
            return found == nil
        }
        return found
    }
}

/// Dictionaries keyed by strings, read member by member: through a keyed container each key
/// would be looked up from the start of the object.
private protocol StringKeyedDecodable {
    static func decodeMembers(at index: Int, in document: TapeDocument, path: PathNode) throws -> Self
}

extension Dictionary: StringKeyedDecodable where Key == String, Value: Decodable {
    fileprivate static func decodeMembers(at index: Int, in document: TapeDocument, path: PathNode) throws -> Self {
        guard document.tape[index].kind == .object else { throw document.mismatch(Self.self, at: index, path: path) }
        var result: Self = [:]
        result.reserveCapacity(document.tape[index].count)
        try document.forEachMember(of: index) { key, value in
            let name = try document.string(at: key, path: path)
            if result[name] == nil {
                result[name] = try document.decode(Value.self, at: value, path: .key(AnyKey(name), parent: path))
            }
            return true
        }
        return result
    }
}

/// What a value decodes itself from: the value at `index` on the tape.
struct TapeDecoder: Decoder {
    let document: TapeDocument
    let index: Int
    let path: PathNode

    /// The names of the object's members, read off the tape: `allKeys` of a keyed container
    /// costs microseconds more, through the generic container.
    func memberNames() throws -> [String] {
        guard document.tape[index].kind == .object else { throw document.mismatch([String: Any].self, at: index, path: path) }
        var names: [String] = []
        names.reserveCapacity(document.tape[index].count)
        try document.forEachMember(of: index) { key, _ in
            names.append(try document.string(at: key, path: path))
            return true
        }
        return names
    }

    var codingPath: [any CodingKey] { path.codingPath }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard document.tape[index].kind == .object else { throw document.mismatch([String: Any].self, at: index, path: path) }
        return KeyedDecodingContainer(ObjectReader(document: document, index: index, path: path))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard document.tape[index].kind == .array else { throw document.mismatch([Any].self, at: index, path: path) }
        return ArrayReader(document: document, index: index, path: path)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        ValueReader(document: document, index: index, path: path)
    }
}

private struct ObjectReader<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let document: TapeDocument
    let index: Int
    let path: PathNode

    var codingPath: [any CodingKey] { path.codingPath }

    var allKeys: [Key] {
        var keys: [Key] = []
        var seen: Set<String> = []
        document.forEachMember(of: index) { key, _ in
            if let name = try? document.string(at: key, path: path), seen.insert(name).inserted, let codingKey = Key(stringValue: name) {
                keys.append(codingKey)
            }
            return true
        }
        return keys
    }

    func contains(_ key: Key) -> Bool { document.member(of: index, named: key.stringValue) != nil }

    /// The value's index on the tape; throws for a missing key.
    private func value(for key: Key) throws -> Int {
        guard let value = document.member(of: index, named: key.stringValue) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "No value associated with key \(key) (\"\(key.stringValue)\")."))
        }
        return value
    }

    /// The value's index on the tape, or nil for a missing key or null.
    private func presentValue(for key: Key) -> Int? {
        guard let value = document.member(of: index, named: key.stringValue), document.tape[value].kind != .null else { return nil }
        return value
    }

    func decodeNil(forKey key: Key) throws -> Bool { document.tape[try value(for: key)].kind == .null }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try read(type, key) }
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? { try readIfPresent(type, key) }

    /// The member's value; the document reads the common scalars by their type.
    private func read<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T {
        try document.decode(T.self, at: try value(for: key), path: .key(key, parent: path))
    }

    /// One lookup for an optional member, not the three of the default implementation.
    private func readIfPresent<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T? {
        guard let value = presentValue(for: key) else { return nil }
        return try document.decode(T.self, at: value, path: .key(key, parent: path))
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try read(type, key) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try read(type, key) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try read(type, key) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try read(type, key) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try read(type, key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try read(type, key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try read(type, key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try read(type, key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try read(type, key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try read(type, key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try read(type, key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try read(type, key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try read(type, key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try read(type, key) }

    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try readIfPresent(type, key) }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try readIfPresent(type, key) }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try readIfPresent(type, key) }
    func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? { try readIfPresent(type, key) }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try readIfPresent(type, key) }
    func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try readIfPresent(type, key) }
    func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try readIfPresent(type, key) }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try readIfPresent(type, key) }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try readIfPresent(type, key) }
    func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try readIfPresent(type, key) }
    func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try readIfPresent(type, key) }
    func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try readIfPresent(type, key) }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try readIfPresent(type, key) }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try readIfPresent(type, key) }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try TapeDecoder(document: document, index: try value(for: key), path: .key(key, parent: path)).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try TapeDecoder(document: document, index: try value(for: key), path: .key(key, parent: path)).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { superDecoder(named: AnyKey("super")) }
    func superDecoder(forKey key: Key) throws -> any Decoder { superDecoder(named: key) }

    /// A missing key decodes as null, as `JSONDecoder` has it.
    private func superDecoder(named key: any CodingKey) -> any Decoder {
        TapeDecoder(document: document, index: document.member(of: index, named: key.stringValue) ?? document.nullIndex, path: .key(key, parent: path))
    }
}

private struct ArrayReader: UnkeyedDecodingContainer {
    let document: TapeDocument
    let path: PathNode
    let count: Int?
    private(set) var currentIndex = 0
    /// The tape index of the element at `currentIndex`.
    private var element: Int

    init(document: TapeDocument, index: Int, path: PathNode) {
        self.document = document
        self.path = path
        self.count = document.tape[index].count
        self.element = index + 1
    }

    var codingPath: [any CodingKey] { path.codingPath }
    var isAtEnd: Bool { currentIndex >= count! }

    /// The next element's tape index and path; moves past it.
    private mutating func next(_ type: Any.Type) throws -> (Int, PathNode) {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(type, .init(codingPath: PathNode.index(currentIndex, parent: path).codingPath, debugDescription: "Unkeyed container is at end."))
        }
        defer {
            element = document.tape[element].next
            currentIndex += 1
        }
        return (element, .index(currentIndex, parent: path))
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { throw DecodingError.valueNotFound(Any?.self, .init(codingPath: codingPath, debugDescription: "Unkeyed container is at end.")) }
        guard document.tape[element].kind == .null else { return false }
        _ = try next(Any?.self)
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let (element, path) = try next(type)
        return try document.decode(type, at: element, path: path)
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { let (element, path) = try next(type); return try document.bool(at: element, path: path) }
    mutating func decode(_ type: String.Type) throws -> String { let (element, path) = try next(type); return try document.string(at: element, path: path) }
    mutating func decode(_ type: Double.Type) throws -> Double { let (element, path) = try next(type); return try document.floatingPoint(type, at: element, path: path) }
    mutating func decode(_ type: Float.Type) throws -> Float { let (element, path) = try next(type); return try document.floatingPoint(type, at: element, path: path) }
    mutating func decode(_ type: Int.Type) throws -> Int { try integer(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try integer(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try integer(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try integer(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try integer(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try integer(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(type) }

    private mutating func integer<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        let (element, path) = try next(type)
        return try document.integer(type, at: element, path: path)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let (element, path) = try next([String: Any].self)
        return try TapeDecoder(document: document, index: element, path: path).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let (element, path) = try next([Any].self)
        return try TapeDecoder(document: document, index: element, path: path).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        let (element, path) = try next(Any.self)
        return TapeDecoder(document: document, index: element, path: path)
    }
}

private struct ValueReader: SingleValueDecodingContainer {
    let document: TapeDocument
    let index: Int
    let path: PathNode

    var codingPath: [any CodingKey] { path.codingPath }

    func decodeNil() -> Bool { document.tape[index].kind == .null }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try document.decode(type, at: index, path: path) }
    func decode(_ type: Bool.Type) throws -> Bool { try document.bool(at: index, path: path) }
    func decode(_ type: String.Type) throws -> String { try document.string(at: index, path: path) }
    func decode(_ type: Double.Type) throws -> Double { try document.floatingPoint(type, at: index, path: path) }
    func decode(_ type: Float.Type) throws -> Float { try document.floatingPoint(type, at: index, path: path) }
    func decode(_ type: Int.Type) throws -> Int { try document.integer(type, at: index, path: path) }
    func decode(_ type: Int8.Type) throws -> Int8 { try document.integer(type, at: index, path: path) }
    func decode(_ type: Int16.Type) throws -> Int16 { try document.integer(type, at: index, path: path) }
    func decode(_ type: Int32.Type) throws -> Int32 { try document.integer(type, at: index, path: path) }
    func decode(_ type: Int64.Type) throws -> Int64 { try document.integer(type, at: index, path: path) }
    func decode(_ type: UInt.Type) throws -> UInt { try document.integer(type, at: index, path: path) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try document.integer(type, at: index, path: path) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try document.integer(type, at: index, path: path) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try document.integer(type, at: index, path: path) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try document.integer(type, at: index, path: path) }
}
