@testable import KubernetesClient
import Testing
import Yams

/// The kubeconfig reader (libyaml's events made into a tree) against Yams, which reads the same
/// texts with the same parser through Foundation: every scalar's text, every mapping's pairs in
/// order, every sequence.
@Suite struct YAMLNodeTests {
    static func fromYams(_ node: Yams.Node) throws -> YAMLNode {
        switch node {
        case .scalar(let s): return .scalar(s.string)
        case .sequence(let s): return .sequence(try s.map(fromYams))
        case .mapping(let m): return .mapping(try m.map { YAMLNode.Pair(key: try fromYams($0.key), value: try fromYams($0.value)) })
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
            single:
              <<: *d
            list: [a, b]
            """.utf8)))
        #expect(n["cluster"]?["name"]?.string == "c")
        #expect(n["cluster"]?["namespace"]?.string == "two")          // the first merged mapping wins
        #expect(n["cluster"]?["server"]?.string == "https://a:6443")
        #expect(n["single"]?["server"]?.string == "https://a:6443")
        #expect(n["cluster"]?["missing"] == nil && n["list"]?.string == nil && n["list"]?["a"] == nil)
        #expect(n["list"]?.items?.compactMap(\.string) == ["a", "b"])
        #expect(try YAMLNode.parse([]) == nil)
        #expect(try YAMLNode.parse(Array("# only a comment\n".utf8)) == nil)
    }

    @Test(arguments: [
        ("a: [1, 2\n", "line"),                    // unclosed flow sequence
        ("{", "line"),
        ("a: b\n---\nc: d\n", "more than one document"),
        ("a: *nope\n", "unknown anchor \"nope\""),
        ("a: b\n c: d\n", "line 2"),
        ("\"unterminated\n", "line"),
    ])
    func malformedTextIsAnErrorThatSaysWhere(text: String, says: String) {
        let e = #expect(throws: YAMLNode.ParseError.self) { try YAMLNode.parse(Array(text.utf8)) }
        #expect(e?.description.contains(says) == true, "\(e?.description ?? "")")
    }
}
