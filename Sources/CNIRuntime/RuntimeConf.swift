import CNI

/// What a runtime knows about one attachment, apart from the network config (libcni's RuntimeConf).
public struct RuntimeConf: Sendable {
    public var containerID: String
    public var netns: String
    public var ifName: String
    /// CNI_ARGS pairs, in order.
    public var args: CNIArgs
    /// Capability arguments; each is passed in `runtimeConfig` to plugins declaring that capability.
    public var capabilityArgs: JSONObject

    public init(containerID: String, netns: String, ifName: String, args: CNIArgs = CNIArgs(),
                capabilityArgs: JSONObject = JSONObject()) {
        (self.containerID, self.netns, self.ifName) = (containerID, netns, ifName)
        (self.args, self.capabilityArgs) = (args, capabilityArgs)
    }

    public var attachment: Attachment { Attachment(containerID: containerID, ifname: ifName) }
}
