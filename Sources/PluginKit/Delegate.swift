import CNI
import CNIInvoke

/// Delegation to an IPAM plugin (spec §4): the whole config and the same environment, with
/// CNI_COMMAND overridden; the result read in the config's version.
public struct Delegate: Sendable {
    public let invoker: any PluginInvoker

    public init(invoker: any PluginInvoker = ExecPluginInvoker()) { self.invoker = invoker }

    func run(_ type: String, _ command: Command, _ request: PluginRequest) throws(CNIError) -> [UInt8] {
        var env = request.environment
        env["CNI_COMMAND"] = command.rawValue
        return try invoker.invoke(type: type, paths: request.path, environment: env, stdin: request.stdin)
    }

    public func add(_ type: String, _ request: PluginRequest) throws(CNIError) -> CNIResult {
        let out = try run(type, .add, request)
        let json: JSONValue
        do { json = try JSONValue.parse(out) } catch {
            throw CNIError(.delegateFailure, "plugin \"\(type)\" printed an unreadable result", details: error.description)
        }
        do {
            return try CNIResult(json: json, fallback: request.version)
        } catch {
            throw CNIError(.delegateFailure, "plugin \"\(type)\" printed an invalid result", details: error.description)
        }
    }

    public func del(_ type: String, _ request: PluginRequest) throws(CNIError) { _ = try run(type, .del, request) }
    public func check(_ type: String, _ request: PluginRequest) throws(CNIError) { _ = try run(type, .check, request) }
    public func status(_ type: String, _ request: PluginRequest) throws(CNIError) { _ = try run(type, .status, request) }
    public func gc(_ type: String, _ request: PluginRequest) throws(CNIError) { _ = try run(type, .gc, request) }
}
