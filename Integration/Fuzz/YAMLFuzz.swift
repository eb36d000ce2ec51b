// libFuzzer target for the kubeconfig reader (Sources/KubernetesClient/YAMLNode.swift over
// libyaml), compiled with it by Integration/Fuzz/run.sh: whatever a kubeconfig file holds, reading
// it never traps, never nests deeper than the reader's limit, and every lookup the kubeconfig
// reader makes returns (merge keys are followed within a budget).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzYAML(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let node = try? YAMLNode.parse(Array(UnsafeBufferPointer(start: data, count: size))) else { return 0 }
    for key in ["current-context", "contexts", "clusters", "users", "name", "cluster", "user", "server", "<<", "a"] {
        _ = node[key]?.string
        for item in node[key]?.items ?? [] { _ = item["name"]?.string; _ = item[key]?["server"] }
    }
    var budget = 100_000   // aliases share nodes: a walk of every path could be exponential
    walk(node, depth: 0, budget: &budget)
    return 0
}

func walk(_ n: YAMLNode, depth: Int, budget: inout Int) {
    guard budget > 0 else { return }
    budget -= 1
    guard depth <= YAMLNode.maxDepth else { fatalError("a tree deeper than the reader's limit") }
    switch n {
    case .scalar: break
    case .sequence(let items): for i in items { walk(i, depth: depth + 1, budget: &budget) }
    case .mapping(let pairs):
        for p in pairs {
            walk(p.key, depth: depth + 1, budget: &budget)
            walk(p.value, depth: depth + 1, budget: &budget)
        }
    }
}
