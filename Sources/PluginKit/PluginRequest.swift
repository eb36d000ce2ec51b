import CNI
import CNIInvoke

/// One invocation of a plugin, validated: what the runtime asked for and the decoded config.
public struct PluginRequest: Sendable {
    public let command: Command
    public let containerID: String
    /// May be empty on DEL.
    public let netns: String
    public let ifName: String
    /// CNI_ARGS as given.
    public let rawArgs: String
    /// CNI_PATH split on ':'.
    public let path: [String]
    /// Exactly the bytes read from stdin (what delegates get).
    public let stdin: [UInt8]
    public let config: NetConf
    /// The config's version, which the result is printed in.
    public let version: CNIVersion
    /// Our whole environment, passed on to delegates.
    public let environment: [String: String]

    public init(command: Command, containerID: String = "", netns: String = "", ifName: String = "",
                rawArgs: String = "", path: [String] = [], stdin: [UInt8], config: NetConf, version: CNIVersion,
                environment: [String: String] = [:]) {
        (self.command, self.containerID, self.netns, self.ifName) = (command, containerID, netns, ifName)
        (self.rawArgs, self.path, self.stdin, self.config) = (rawArgs, path, stdin, config)
        (self.version, self.environment) = (version, environment)
    }

    /// The same request for another verb (e.g. the DEL that undoes a failed ADD).
    public func with(command: Command) -> PluginRequest {
        var env = environment
        env["CNI_COMMAND"] = command.rawValue
        return PluginRequest(command: command, containerID: containerID, netns: netns, ifName: ifName, rawArgs: rawArgs,
                             path: path, stdin: stdin, config: config, version: version, environment: env)
    }

    /// A DEL of another attachment of the same network (a meta plugin's GC of an attachment the
    /// runtime no longer has); `netns` empty when it is gone.
    public func del(containerID other: String, netns: String) -> PluginRequest {
        var env = environment
        env["CNI_COMMAND"] = Command.del.rawValue
        env["CNI_CONTAINERID"] = other
        env["CNI_NETNS"] = netns
        return PluginRequest(command: .del, containerID: other, netns: netns, ifName: ifName, rawArgs: rawArgs,
                             path: path, stdin: stdin, config: config, version: version, environment: env)
    }

    /// CNI_ARGS parsed and checked against the keys this plugin understands.
    public func cniArgs(known: [String]) throws(CNIError) -> CNIArgs {
        let args = try CNIArgs(parsing: rawArgs)
        try args.validate(known: known)
        return args
    }

    /// The attachment this request is about.
    public var attachment: Attachment { Attachment(containerID: containerID, ifname: ifName) }
}
