import CYAML

/// One YAML document as a tree of text, read by libyaml (the C parser Yams wraps) without
/// Foundation: Yams needs all of it (ICU's data alone is ~30 MB of `swift-cni-full`, and a third
/// of the protocol-conformance records every first-time cast of a process scans). What reads a
/// kubeconfig wants names and strings only, so a scalar is the text it holds, untyped (`true`
/// stays "true"), as Yams's `.basic` resolver gave it before. Anchors and aliases are resolved
/// (an alias shares its anchor's node, so repeated aliases cost nothing); `<<` merge keys are
/// followed by lookups, as Go's YAML library merges them.
public indirect enum YAMLNode: Equatable, Sendable {
    case scalar(String)
    case sequence([YAMLNode])
    case mapping([Pair])

    public struct Pair: Equatable, Sendable {
        public var key: YAMLNode
        public var value: YAMLNode
    }

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

    /// The value of a mapping's scalar key (the first, as written, then through `<<` merge keys
    /// in their order); nil when absent or not a mapping.
    public subscript(key: String) -> YAMLNode? { lookup(key, depth: 0) }

    private func lookup(_ key: String, depth: Int) -> YAMLNode? {
        guard case .mapping(let pairs) = self, depth < 64 else { return nil }
        for p in pairs where p.key.string == key { return p.value }
        for p in pairs where p.key.string == "<<" {
            for source in p.value.items ?? [p.value] {
                if let v = source.lookup(key, depth: depth + 1) { return v }
            }
        }
        return nil
    }

    /// Why a text is not one YAML document.
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// The stream's one document; nil for an empty stream. A second document, like a syntax
    /// error (with its line and column), is an error.
    public static func parse(_ text: [UInt8]) throws(ParseError) -> YAMLNode? {
        if text.isEmpty { return nil }   // (libyaml takes no empty buffer)
        var composer = Composer()
        let outcome: Result<YAMLNode?, ParseError> = text.withUnsafeBufferPointer { buffer in
            var parser = yaml_parser_t()
            guard yaml_parser_initialize(&parser) == 1 else { return .failure(ParseError(description: "out of memory")) }
            defer { yaml_parser_delete(&parser) }
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var event = yaml_event_t()
            while true {
                guard yaml_parser_parse(&parser, &event) == 1 else { return .failure(Self.failure(parser)) }
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
        text += " at line \(parser.problem_mark.line + 1), column \(parser.problem_mark.column + 1)"
        if let context = parser.context { text += " (\(String(cString: context)))" }
        return ParseError(description: text)
    }

    /// Builds the tree from libyaml's events: a stack of the sequences and mappings still open.
    struct Composer {
        enum Open {
            case sequence([YAMLNode], anchor: String?)
            case mapping([Pair], key: YAMLNode?, anchor: String?)
        }
        var stack: [Open] = []
        var anchors: [String: YAMLNode] = [:]
        var root: YAMLNode?
        var documents = 0

        /// Takes one event; true at the end of the stream.
        mutating func take(_ event: yaml_event_t) throws(ParseError) -> Bool {
            switch event.type {
            case YAML_STREAM_END_EVENT:
                return true
            case YAML_DOCUMENT_START_EVENT:
                documents += 1
                if documents > 1 {
                    throw ParseError(description: "more than one document, at line \(event.start_mark.line + 1)")
                }
            case YAML_SCALAR_EVENT:
                let s = event.data.scalar
                add(.scalar(Self.text(s.value, s.length)), anchor: Self.name(s.anchor))
            case YAML_ALIAS_EVENT:
                let name = Self.name(event.data.alias.anchor) ?? ""
                guard let node = anchors[name] else {
                    throw ParseError(description: "unknown anchor \"\(name)\" at line \(event.start_mark.line + 1)")
                }
                add(node, anchor: nil)
            case YAML_SEQUENCE_START_EVENT:
                stack.append(.sequence([], anchor: Self.name(event.data.sequence_start.anchor)))
            case YAML_MAPPING_START_EVENT:
                stack.append(.mapping([], key: nil, anchor: Self.name(event.data.mapping_start.anchor)))
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                switch stack.removeLast() {
                case .sequence(let items, let anchor): add(.sequence(items), anchor: anchor)
                case .mapping(let pairs, _, let anchor): add(.mapping(pairs), anchor: anchor)
                }
            default:
                break   // stream and document starts/ends carry nothing a reader needs
            }
            return false
        }

        mutating func add(_ node: YAMLNode, anchor: String?) {
            if let anchor { anchors[anchor] = node }
            guard let top = stack.popLast() else {
                root = node
                return
            }
            switch top {
            case .sequence(var items, let a):
                items.append(node)
                stack.append(.sequence(items, anchor: a))
            case .mapping(var pairs, let key, let a):
                if let key {
                    pairs.append(Pair(key: key, value: node))
                    stack.append(.mapping(pairs, key: nil, anchor: a))
                } else {
                    stack.append(.mapping(pairs, key: node, anchor: a))
                }
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
