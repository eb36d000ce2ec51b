import CYAML

/// One YAML document as a tree of text, read by libyaml (the C parser Yams wraps) without
/// Foundation: Yams needs all of it (ICU's data alone is ~30 MB of `swift-cni-full`; with Yams, it
/// held 2,000 of the 7,495 protocol-conformance records every first-time cast of a process scans). What reads a
/// kubeconfig wants names and strings only, so a scalar is the text it holds, untyped (`true`
/// stays "true"), as Yams's `.basic` resolver gave it before — but a plain `~`, `null`, `Null` or
/// `NULL` is empty, as Go's YAML library reads a kubeconfig's null. Anchors and aliases are
/// resolved (an alias shares its anchor's node, so repeated aliases cost nothing); plain `<<` merge
/// keys are followed by lookups after the mapping's own keys. A duplicated key: the last one
/// counts, as for Yams and Go. Only the first document is read, as client-go reads a kubeconfig.
/// Limits against crafted files (a kubeconfig is a handful of levels deep): nesting deeper than
/// `maxDepth` is an error (Debian's libyaml has no limit of its own, and a tree nested 100,000
/// deep would overflow the stack when freed), and a lookup follows at most `maxMergeVisits`
/// merged mappings (aliases of aliases can make the merge graph exponential).
public indirect enum YAMLNode: Equatable, Sendable {
    case scalar(String)
    case sequence([YAMLNode])
    case mapping([Pair])

    public struct Pair: Equatable, Sendable {
        public var key: YAMLNode
        public var value: YAMLNode
        /// A plain `<<`: the value's mappings are merged into this one.
        public var merges = false
    }

    public static let maxDepth = 200
    public static let maxMergeVisits = 10_000

    /// A scalar's text; nil for a sequence or mapping.
    public var string: String? {
        if case .scalar(let s) = self { return s }
        return nil
    }

    /// A sequence's items; nil for anything else.
    public var items: [YAMLNode]? {
        if case .sequence(let s) = self { return s }
        return nil
    }

    /// The value of a mapping's scalar key (the last, when written twice; else through `<<` merge
    /// keys in their order); nil when absent, not a mapping, or past the merge budget.
    public subscript(key: String) -> YAMLNode? {
        var budget = Self.maxMergeVisits
        return lookup(key, budget: &budget)
    }

    private func lookup(_ key: String, budget: inout Int) -> YAMLNode? {
        guard case .mapping(let pairs) = self, budget > 0 else { return nil }
        budget -= 1
        if let p = pairs.last(where: { !$0.merges && $0.key.string == key }) { return p.value }
        for p in pairs where p.merges {
            for source in p.value.items ?? [p.value] {
                if let v = source.lookup(key, budget: &budget) { return v }
            }
        }
        return nil
    }

    /// Why a text is not one YAML document.
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// The stream's first document; nil for an empty stream. A syntax error is an error (with its
    /// line and column, or its byte for an encoding error).
    public static func parse(_ text: [UInt8]) throws(ParseError) -> YAMLNode? {
        if text.isEmpty { return nil }   // (libyaml takes no empty buffer)
        var composer = Composer()
        // libyaml keeps the parser's own address (its read handler's data): a heap parser, not a
        // local Swift may move between calls.
        let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
        defer { parser.deallocate() }
        guard yaml_parser_initialize(parser) == 1 else { throw ParseError(description: "out of memory") }
        defer { yaml_parser_delete(parser) }
        let outcome: Result<YAMLNode?, ParseError> = text.withUnsafeBufferPointer { buffer in
            yaml_parser_set_input_string(parser, buffer.baseAddress, buffer.count)
            var event = yaml_event_t()
            while true {
                guard yaml_parser_parse(parser, &event) == 1 else { return .failure(Self.failure(parser.pointee)) }
                defer { yaml_event_delete(&event) }
                do throws(ParseError) {
                    if try composer.take(event) { return .success(composer.root) }
                } catch {
                    return .failure(error)
                }
            }
        }
        return try outcome.get()
    }

    static func failure(_ parser: yaml_parser_t) -> ParseError {
        var text = parser.problem.map { String(cString: $0) } ?? "invalid YAML"
        if parser.error == YAML_READER_ERROR {
            text += " at byte \(parser.problem_offset)"
        } else {
            text += " at line \(parser.problem_mark.line + 1), column \(parser.problem_mark.column + 1)"
        }
        if let context = parser.context { text += " (\(String(cString: context)))" }
        return ParseError(description: text)
    }

    /// Builds the tree from libyaml's events: a stack of the sequences and mappings still open,
    /// each changed in place (`stack[top]`), never copied.
    struct Composer {
        struct Open {
            var mapping: Bool
            var anchor: String?
            var items: [YAMLNode] = []
            var pairs: [Pair] = []
            /// A mapping's key waiting for its value (and whether it is a plain `<<`).
            var key: YAMLNode?
            var keyMerges = false
        }
        var stack: [Open] = []
        var anchors: [String: YAMLNode] = [:]
        var root: YAMLNode?

        /// Takes one event; true at the end of the first document (or of the stream).
        mutating func take(_ event: yaml_event_t) throws(ParseError) -> Bool {
            switch event.type {
            case YAML_STREAM_END_EVENT, YAML_DOCUMENT_END_EVENT:
                return true
            case YAML_SCALAR_EVENT:
                let s = event.data.scalar
                var text = Self.text(s.value, s.length)
                let plain = s.style == YAML_PLAIN_SCALAR_STYLE
                if plain && ["~", "null", "Null", "NULL"].contains(text) { text = "" }
                add(.scalar(text), anchor: Self.name(s.anchor), plainMerge: plain && text == "<<")
            case YAML_ALIAS_EVENT:
                let name = Self.name(event.data.alias.anchor) ?? ""
                guard let node = anchors[name] else {
                    throw ParseError(description: "unknown anchor \"\(name)\" at line \(event.start_mark.line + 1)")
                }
                add(node, anchor: nil)
            case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                guard stack.count < YAMLNode.maxDepth else {
                    throw ParseError(description: "nested deeper than \(YAMLNode.maxDepth) at line \(event.start_mark.line + 1)")
                }
                let mapping = event.type == YAML_MAPPING_START_EVENT
                stack.append(Open(mapping: mapping, anchor: Self.name(mapping ? event.data.mapping_start.anchor
                                                                             : event.data.sequence_start.anchor)))
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                let done = stack.removeLast()
                add(done.mapping ? .mapping(done.pairs) : .sequence(done.items), anchor: done.anchor)
            default:
                break   // the stream's and the document's starts carry nothing a reader needs
            }
            return false
        }

        mutating func add(_ node: YAMLNode, anchor: String?, plainMerge: Bool = false) {
            if let anchor { anchors[anchor] = node }
            guard !stack.isEmpty else {
                root = node
                return
            }
            let top = stack.count - 1
            if !stack[top].mapping {
                stack[top].items.append(node)
            } else if let key = stack[top].key {
                stack[top].pairs.append(Pair(key: key, value: node, merges: stack[top].keyMerges))
                stack[top].key = nil
            } else {
                stack[top].key = node
                stack[top].keyMerges = plainMerge
            }
        }

        static func text(_ p: UnsafeMutablePointer<yaml_char_t>?, _ length: Int) -> String {
            guard let p else { return "" }
            return String(decoding: UnsafeBufferPointer(start: p, count: length), as: UTF8.self)
        }

        static func name(_ p: UnsafeMutablePointer<yaml_char_t>?) -> String? {
            p.map { String(cString: $0) }
        }
    }
}
