import CNI
import CNIInvoke
import LinuxSystem
import PluginKit

/// Runs a plugin in-process through the skeleton, as a runtime would exec it.
public struct PluginCall {
    public var env: [String: String]
    public var stdin: String

    public init(_ command: String, config: String, containerID: String = "ctr1", ifName: String = "eth0",
                args: String = "", netns: String = "/var/run/netns/test") {
        env = ["CNI_COMMAND": command, "CNI_CONTAINERID": containerID, "CNI_NETNS": netns, "CNI_IFNAME": ifName,
               "CNI_PATH": "/opt/cni/bin", "CNI_ARGS": args]
        stdin = config
    }

    public func run(_ plugin: some Plugin) -> Skeleton.Output {
        let bytes = Array(stdin.utf8)
        return Skeleton.run(plugin, environment: env) { () throws(SystemError) in bytes }
    }
}

extension Skeleton.Output {
    public var json: JSONValue? { try? JSONValue.parse(stdout) }
    /// The error code, or nil on success.
    public var errorCode: Int? { exitCode == 0 ? nil : json?["code"]?.intValue }
    public var message: String { json?["msg"]?.stringValue ?? "" }
    public var text: String { String(decoding: stdout, as: UTF8.self) }
}
