@testable import KubernetesClient
import Testing
import Yams

/// The kubeconfig reader (libyaml's events made into a tree) against Yams, which reads the same
/// texts with the same parser through Foundation: every scalar's text, every mapping's pairs in
/// order, every sequence.
@Suite struct YAMLNodeTests {
    /// Yams's tree as ours reads it: a plain null is empty, a plain `<<` key merges.
    static func fromYams(_ node: Yams.Node) throws -> YAMLNode {
        switch node {
        case .scalar(let s):
            return .scalar(s.style == .plain && ["~", "null", "Null", "NULL"].contains(s.string) ? "" : s.string)
        case .sequence(let s): return .sequence(try s.map(fromYams))
        case .mapping(let m):
            return .mapping(try m.map {
                YAMLNode.Pair(key: try fromYams($0.key), value: try fromYams($0.value),
                              merges: $0.key.scalar?.style == .plain && $0.key.string == "<<")
            })
        case .alias: throw YAMLNode.ParseError(description: "Yams left an alias unresolved")
        }
    }

    static let texts = [
        // A kubeconfig as kubectl writes it.
        """
        apiVersion: v1
        clusters:
        - cluster:
            certificate-authority-data: TFMwdExTMUNSVWRKVGlCRFJWSlVTVVpKUTBGVVJTMHRMUzB0Q2sxSlNVSQ==
            server: https://api.ocp.example.com:6443
          name: ocp
        contexts:
        - context:
            cluster: ocp
            namespace: openshift-multus
            user: admin
          name: admin
        current-context: admin
        kind: Config
        preferences: {}
        users:
        - name: admin
          user:
            token: sha256~abc
        """,
        // Flow styles, quoting and escapes, comments, a document marker, an empty value.
        """
        %YAML 1.1
        --- # the one document
        a: {b: "x\\ty\\u00e9", 'c d': 'it''s', e: [1, two, "3"]}
        f:   # empty
        g: ~
        g2: "~"
        g3: NULL
        "h": plain text
          folded on a second line
        i: true
        ...
        """,
        // Block scalars, nested sequences, unicode, anchors and aliases (reused twice).
        """
        base: &b
          server: https://[fd00::1]:6443
          list: [&x one, *x]
        literal: |
          line one
            indented
        folded: >-
          a
          b
        copies: [*b, *b]
        nested:
        - - deep
          - éé ✓
        - {}
        - []
        """,
        // A JSON kubeconfig (JSON is YAML).
        #"{"current-context": "c", "contexts": [{"name": "c", "context": {"cluster": "k"}}], "n": null}"#,
    ]

    @Test(arguments: texts)
    func readsWhatYamsReads(text: String) throws {
        let ours = try #require(try YAMLNode.parse(Array(text.utf8)))
        let theirs = try Self.fromYams(try #require(try Yams.compose(yaml: text, .basic)))
        #expect(ours == theirs)
    }

    @Test func lookupsAliasesAndMergeKeys() throws {
        let n = try #require(try YAMLNode.parse(Array("""
            defaults: &d {server: "https://a:6443", namespace: one}
            over: &o {namespace: two}
            cluster:
              <<: [*o, *d]
              name: c
              name: last
            single:
              <<: *d
              server: own
            quoted: {"<<": *d}
            list: [a, b]
            token: ~
            """.utf8)))
        #expect(n["cluster"]?["name"]?.string == "last")                 // a duplicated key: the last, as Yams and Go
        #expect(n["single"]?["server"]?.string == "own")                 // the mapping's own keys before merged ones
        #expect(n["quoted"]?["server"] == nil && n["quoted"]?["<<"] != nil)  // only a plain << merges
        #expect(n["token"]?.string == "")                                // a plain null is empty, as Go reads it
        #expect(n["cluster"]?["namespace"]?.string == "two")          // the first merged mapping wins
        #expect(n["cluster"]?["server"]?.string == "https://a:6443")
        #expect(n["single"]?["namespace"]?.string == "one")
        #expect(n["cluster"]?["missing"] == nil && n["list"]?.string == nil && n["list"]?["a"] == nil)
        #expect(n["list"]?.items?.compactMap(\.string) == ["a", "b"])
        #expect(try YAMLNode.parse([]) == nil)
        #expect(try YAMLNode.parse(Array("# only a comment\n".utf8)) == nil)
    }

    @Test(arguments: [
        ("a: [1, 2\n", "line"),                    // unclosed flow sequence
        ("{", "line"),
        ("a: *nope\n", "unknown anchor \"nope\""),
        ("a: b\n c: d\n", "line 2"),
        ("\"unterminated\n", "line"),
        ("a: b\u{0}c\n", "at byte 4"),            // an encoding error: where, in bytes
        (String(repeating: "- ", count: 300) + "x\n", "nested deeper than 200"),   // ours, not libyaml's limit
        (String(repeating: "[", count: 300) + String(repeating: "]", count: 300), "nested deeper than 200"),
    ])
    func malformedTextIsAnErrorThatSaysWhere(text: String, says: String) {
        let e = #expect(throws: YAMLNode.ParseError.self) { try YAMLNode.parse(Array(text.utf8)) }
        #expect(e?.description.contains(says) == true, "\(e?.description ?? "")")
    }

    /// client-go reads a kubeconfig's first document; a nesting as deep as the limit is read.
    @Test func theFirstDocumentAndNestingUpToTheLimit() throws {
        #expect(try YAMLNode.parse(Array("a: 1\n---\nb: 2\n".utf8))?["a"]?.string == "1")
        #expect(try YAMLNode.parse(Array("a: 1\n---\n".utf8))?["b"] == nil)
        let deep = try #require(try YAMLNode.parse(Array((String(repeating: "- ", count: YAMLNode.maxDepth) + "x\n").utf8)))
        var n = deep, depth = 0
        while let first = n.items?.first { n = first; depth += 1 }
        #expect(depth == YAMLNode.maxDepth && n.string == "x")
    }

    /// Aliases of aliases make the merge graph exponential (2^40 paths here, in 2 KB): a lookup
    /// gives up after a bounded number of merged mappings instead of running for hours.
    @Test func mergesOfMergesAreBounded() throws {
        var text = "l0: &l0 {a: 1}\n"
        for i in 1...40 { text += "l\(i): &l\(i) {<<: [*l\(i - 1), *l\(i - 1)]}\n" }
        let n = try #require(try YAMLNode.parse(Array(text.utf8)))
        #expect(n["l40"]?["a"]?.string == "1")      // found on the first path
        #expect(n["l40"]?["missing"] == nil)         // returns: the budget, not 2^40 visits
    }
}
