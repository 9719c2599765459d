/// Where a value sits in a document, kept as links to its parent and turned into a coding path
/// only for an error: what `StreamingJSONEncoder` and `TapeJSONDecoder` carry down instead of
/// an array per nested value.
indirect enum PathNode {
    case root
    case key(any CodingKey, parent: PathNode)
    case index(Int, parent: PathNode)

    var codingPath: [any CodingKey] {
        var keys: [any CodingKey] = []
        var node = self
        while true {
            switch node {
            case .root: return keys.reversed()
            case .key(let key, let parent): keys.append(key); node = parent
            case .index(let index, let parent): keys.append(AnyKey(index: index)); node = parent
            }
        }
    }
}

struct AnyKey: CodingKey {
    let stringValue: String
    let intValue: Int?
    init(_ string: String) { (stringValue, intValue) = (string, nil) }
    init(index: Int) { (stringValue, intValue) = ("Index \(index)", index) }
    init?(stringValue: String) { self.init(stringValue) }
    init?(intValue: Int) { self.init(index: intValue) }
}
