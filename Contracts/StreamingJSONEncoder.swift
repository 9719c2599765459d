import Foundation

/// Encodes a value as JSON by writing its bytes while the value encodes itself, keys in the
/// order the value encodes them: the dialect of `JSONCoding` (dates as `JSONCoding.format`, data
/// as Base64, slashes unescaped, numbers and escapes as `JSONEncoder` writes them) at a fraction
/// of `JSONEncoder`'s cost, which builds a tree of the whole value before it writes a byte.
///
/// A container is opened where it is asked for and closed when its parent writes again or the
/// encoding ends. That is how every `Encodable` of this package, synthesized or written by
/// hand, encodes. Dictionaries keyed by strings are written in key order, so one value always
/// gives the same bytes. A value that writes to a container after its parent moved on, or asks
/// for a super encoder, cannot be written in one pass: `encode` then throws `.needsTree`, and
/// `JSONCoding` encodes that value with `JSONEncoder`.
struct StreamingJSONEncoder {
    enum Unsupported: Error { case needsTree }

    func encode(_ value: some Encodable) throws -> Data {
        let output = JSONOutput()
        try output.encodeValue(value, in: -1, path: .root)
        if output.needsTree { throw Unsupported.needsTree }
        guard !output.bytes.isEmpty else {
            throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription: "Top-level \(type(of: value)) did not encode any values."))
        }
        return Data(output.bytes)
    }
}

/// The bytes written so far and the containers still open, outermost first. A container is
/// named by its depth (its index among the open ones; -1 is the document itself) and the offset
/// of its opening bracket, which tells it apart from a later one at the same depth.
private final class JSONOutput {
    enum Kind { case object, array }

    struct Container {
        let kind: Kind
        let start: Int
        var count = 0
    }

    struct State {
        var bytes: [UInt8] = []
        var open: [Container] = []
        /// Set when a value encoded itself in a way that cannot be written in one pass.
        var needsTree = false
    }

    /// Held through a pointer rather than in stored properties: every byte written would
    /// otherwise pay for the run-time exclusivity check of a class's stored property.
    private let state: UnsafeMutablePointer<State>

    init() {
        state = .allocate(capacity: 1)
        state.initialize(to: State())
        state.pointee.bytes.reserveCapacity(512)
    }

    deinit {
        state.deinitialize(count: 1)
        state.deallocate()
    }

    var bytes: [UInt8] {
        get { state.pointee.bytes }
        _modify { yield &state.pointee.bytes }
    }

    private var open: [Container] {
        get { state.pointee.open }
        _modify { yield &state.pointee.open }
    }

    var needsTree: Bool {
        get { state.pointee.needsTree }
        set { state.pointee.needsTree = newValue }
    }

    /// Writes `value` as the next element of the container at `depth`, whose comma and key are
    /// already written.
    func encodeValue<T: Encodable>(_ value: T, in depth: Int, path: @autoclosure () -> PathNode) throws {
        // Compared as types, not cast as values: a cast costs a lookup in the runtime's caches.
        // Scalars come here as the elements of an array, which encodes them one by one through
        // the generic method.
        if T.self == String.self {
            writeString(unsafeBitCast(value, to: String.self))
        } else if T.self == Int.self {
            write(unsafeBitCast(value, to: Int.self))
        } else if T.self == Int64.self {
            write(unsafeBitCast(value, to: Int64.self))
        } else if T.self == Bool.self {
            write(unsafeBitCast(value, to: Bool.self))
        } else if T.self == Double.self {
            try write(unsafeBitCast(value, to: Double.self), path: path())
        } else if T.self == Float.self {
            try write(unsafeBitCast(value, to: Float.self), path: path())
        } else if T.self == Date.self {
            writeString(JSONCoding.format(unsafeBitCast(value, to: Date.self)))
        } else if T.self == UUID.self {
            writeUUID(unsafeBitCast(value, to: UUID.self))
        } else if T.self == Data.self {
            writeString(unsafeBitCast(value, to: Data.self).base64EncodedString())
        } else if T.self == URL.self {
            writeString(unsafeBitCast(value, to: URL.self).absoluteString)
        } else if let dictionary = value as? any StringKeyedDictionary {
            try dictionary.encodeSorted(to: self, in: depth, path: path())
        } else {
            let start = bytes.count
            try value.encode(to: ValueEncoder(output: self, depth: depth, start: start, path: path()))
            close(inside: depth)
            // As `JSONEncoder` writes a nested value that encoded nothing; the document's own
            // value must encode something.
            if bytes.count == start, depth >= 0 { bytes.append(contentsOf: "{}".utf8) }
        }
    }

    /// As `UUID.uuidString` spells it, without building the string.
    func writeUUID(_ uuid: UUID) {
        withUnsafeBytes(of: uuid.uuid) { raw in
            bytes.append(UInt8(ascii: "\""))
            for (index, byte) in raw.enumerated() {
                if index == 4 || index == 6 || index == 8 || index == 10 { bytes.append(UInt8(ascii: "-")) }
                bytes.append(Self.upperHexDigits[Int(byte >> 4)])
                bytes.append(Self.upperHexDigits[Int(byte & 0xF)])
            }
            bytes.append(UInt8(ascii: "\""))
        }
    }

    /// Opens a container as the value at `start` inside the container at `depth`, or finds the
    /// one that value opened already (a value may ask for its container more than once).
    /// Returns the container's depth.
    func open(_ kind: Kind, in depth: Int, start: Int) -> Int {
        if depth + 1 < open.count, open[depth + 1].start == start {
            close(inside: depth + 1)
            if open[depth + 1].kind != kind { needsTree = true }
            return depth + 1
        }
        close(inside: depth)
        open.append(Container(kind: kind, start: bytes.count))
        bytes.append(kind == .object ? UInt8(ascii: "{") : UInt8(ascii: "["))
        return open.count - 1
    }

    func start(of depth: Int) -> Int { open[depth].start }

    /// Closes every container inside the one at `depth`.
    func close(inside depth: Int) {
        while open.count > depth + 1 {
            bytes.append(open.removeLast().kind == .object ? UInt8(ascii: "}") : UInt8(ascii: "]"))
        }
    }

    /// Makes the container at `depth` that opened at `start` the innermost again and writes the
    /// comma before its next element. A container closed already cannot take one.
    func beginElement(in depth: Int, start: Int) {
        guard depth < open.count, open[depth].start == start else {
            needsTree = true
            return
        }
        close(inside: depth)
        if open[depth].count > 0 { bytes.append(UInt8(ascii: ",")) }
        open[depth].count += 1
    }

    func beginMember(_ key: String, in depth: Int, start: Int) {
        beginElement(in: depth, start: start)
        writeString(key)
        bytes.append(UInt8(ascii: ":"))
    }

    func count(in depth: Int, start: Int) -> Int {
        depth < open.count && open[depth].start == start ? open[depth].count : 0
    }

    // MARK: Scalars

    func writeNull() { bytes.append(contentsOf: "null".utf8) }

    func write(_ value: Bool) { bytes.append(contentsOf: value ? "true".utf8 : "false".utf8) }

    func write(_ value: some FixedWidthInteger) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        var magnitude = UInt64(value.magnitude)
        var digits = 1
        var rest = magnitude / 10
        while rest > 0 { (digits, rest) = (digits + 1, rest / 10) }
        bytes.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: digits))
        var index = bytes.count
        repeat {
            index -= 1
            bytes[index] += UInt8(magnitude % 10)
            magnitude /= 10
        } while magnitude > 0
    }

    /// As `JSONEncoder` writes a number: the shortest form that reads back the same, without a
    /// trailing `.0`. JSON has no NaN or infinity.
    func write<T: BinaryFloatingPoint & LosslessStringConvertible>(_ value: T, path: @autoclosure () -> PathNode) throws {
        guard value.isFinite else {
            throw EncodingError.invalidValue(value, .init(codingPath: path().codingPath, debugDescription: "Unable to encode \(T.self).\(value) directly in JSON."))
        }
        var text = value.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        bytes.append(contentsOf: text.utf8)
    }

    /// `text` as a JSON string, escaped as `JSONEncoder` escapes it.
    func writeString(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        JSONCoding.appendEscaped(text, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    private static let upperHexDigits = Array("0123456789ABCDEF".utf8)
}

/// Dictionaries keyed by strings, which `encodeValue` writes with their keys in order.
private protocol StringKeyedDictionary {
    func encodeSorted(to output: JSONOutput, in depth: Int, path: PathNode) throws
}

extension Dictionary: StringKeyedDictionary where Key == String, Value: Encodable {
    fileprivate func encodeSorted(to output: JSONOutput, in depth: Int, path: PathNode) throws {
        let start = output.bytes.count
        let object = output.open(.object, in: depth, start: start)
        for key in keys.sorted() {
            output.beginMember(key, in: object, start: start)
            try output.encodeValue(self[key]!, in: object, path: .key(AnyKey(key), parent: path))
        }
        output.close(inside: depth)
    }
}

/// What a value encodes itself to: the slot at `start` inside the container at `depth`.
private struct ValueEncoder: Encoder {
    let output: JSONOutput
    let depth: Int
    let start: Int
    let path: PathNode

    var codingPath: [any CodingKey] { path.codingPath }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let object = output.open(.object, in: depth, start: start)
        return KeyedEncodingContainer(ObjectContainer(output: output, depth: object, start: output.start(of: object), path: path))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let array = output.open(.array, in: depth, start: start)
        return ArrayContainer(output: output, depth: array, start: output.start(of: array), path: path)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleValue(output: output, depth: depth, path: path)
    }
}

private struct ObjectContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let output: JSONOutput
    let depth: Int
    let start: Int
    let path: PathNode

    var codingPath: [any CodingKey] { path.codingPath }

    private func begin(_ key: Key) { output.beginMember(key.stringValue, in: depth, start: start) }

    mutating func encodeNil(forKey key: Key) throws { begin(key); output.writeNull() }
    mutating func encode(_ value: Bool, forKey key: Key) throws { begin(key); output.write(value) }
    mutating func encode(_ value: String, forKey key: Key) throws { begin(key); output.writeString(value) }
    mutating func encode(_ value: Double, forKey key: Key) throws { begin(key); try output.write(value, path: .key(key, parent: path)) }
    mutating func encode(_ value: Float, forKey key: Key) throws { begin(key); try output.write(value, path: .key(key, parent: path)) }
    mutating func encode(_ value: Int, forKey key: Key) throws { begin(key); output.write(value) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { begin(key); output.write(value) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { begin(key); output.write(value) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { begin(key); output.write(value) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { begin(key); output.write(value) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { begin(key); output.write(value) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { begin(key); output.write(value) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { begin(key); output.write(value) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { begin(key); output.write(value) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { begin(key); output.write(value) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        begin(key)
        try output.encodeValue(value, in: depth, path: .key(key, parent: path))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        begin(key)
        return ValueEncoder(output: output, depth: depth, start: output.bytes.count, path: .key(key, parent: path)).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        begin(key)
        return ValueEncoder(output: output, depth: depth, start: output.bytes.count, path: .key(key, parent: path)).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder { unsupportedSuperEncoder() }
    mutating func superEncoder(forKey key: Key) -> any Encoder { unsupportedSuperEncoder() }

    private func unsupportedSuperEncoder() -> any Encoder {
        output.needsTree = true
        return ValueEncoder(output: output, depth: depth, start: output.bytes.count, path: path)
    }
}

private struct ArrayContainer: UnkeyedEncodingContainer {
    let output: JSONOutput
    let depth: Int
    let start: Int
    let path: PathNode

    var codingPath: [any CodingKey] { path.codingPath }
    var count: Int { output.count(in: depth, start: start) }

    /// Begins the next element; returns its index.
    @discardableResult
    private func begin() -> Int {
        let index = count
        output.beginElement(in: depth, start: start)
        return index
    }

    mutating func encodeNil() throws { begin(); output.writeNull() }
    mutating func encode(_ value: Bool) throws { begin(); output.write(value) }
    mutating func encode(_ value: String) throws { begin(); output.writeString(value) }
    mutating func encode(_ value: Double) throws { let index = begin(); try output.write(value, path: .index(index, parent: path)) }
    mutating func encode(_ value: Float) throws { let index = begin(); try output.write(value, path: .index(index, parent: path)) }
    mutating func encode(_ value: Int) throws { begin(); output.write(value) }
    mutating func encode(_ value: Int8) throws { begin(); output.write(value) }
    mutating func encode(_ value: Int16) throws { begin(); output.write(value) }
    mutating func encode(_ value: Int32) throws { begin(); output.write(value) }
    mutating func encode(_ value: Int64) throws { begin(); output.write(value) }
    mutating func encode(_ value: UInt) throws { begin(); output.write(value) }
    mutating func encode(_ value: UInt8) throws { begin(); output.write(value) }
    mutating func encode(_ value: UInt16) throws { begin(); output.write(value) }
    mutating func encode(_ value: UInt32) throws { begin(); output.write(value) }
    mutating func encode(_ value: UInt64) throws { begin(); output.write(value) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let index = begin()
        try output.encodeValue(value, in: depth, path: .index(index, parent: path))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let index = begin()
        return ValueEncoder(output: output, depth: depth, start: output.bytes.count, path: .index(index, parent: path)).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let index = begin()
        return ValueEncoder(output: output, depth: depth, start: output.bytes.count, path: .index(index, parent: path)).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        output.needsTree = true
        return ValueEncoder(output: output, depth: depth, start: output.bytes.count, path: path)
    }
}

/// The value itself, in the slot its parent prepared.
private struct SingleValue: SingleValueEncodingContainer {
    let output: JSONOutput
    let depth: Int
    let path: PathNode

    var codingPath: [any CodingKey] { path.codingPath }

    mutating func encodeNil() throws { output.writeNull() }
    mutating func encode(_ value: Bool) throws { output.write(value) }
    mutating func encode(_ value: String) throws { output.writeString(value) }
    mutating func encode(_ value: Double) throws { try output.write(value, path: path) }
    mutating func encode(_ value: Float) throws { try output.write(value, path: path) }
    mutating func encode(_ value: Int) throws { output.write(value) }
    mutating func encode(_ value: Int8) throws { output.write(value) }
    mutating func encode(_ value: Int16) throws { output.write(value) }
    mutating func encode(_ value: Int32) throws { output.write(value) }
    mutating func encode(_ value: Int64) throws { output.write(value) }
    mutating func encode(_ value: UInt) throws { output.write(value) }
    mutating func encode(_ value: UInt8) throws { output.write(value) }
    mutating func encode(_ value: UInt16) throws { output.write(value) }
    mutating func encode(_ value: UInt32) throws { output.write(value) }
    mutating func encode(_ value: UInt64) throws { output.write(value) }
    mutating func encode<T: Encodable>(_ value: T) throws { try output.encodeValue(value, in: depth, path: path) }
}
