import Bridge
import CNI
import CNIInvoke
import EgressRouter
import HostDevice
import HostLocal
import Ipvlan
import LinuxSystem
import Macvlan
import Multus
import PluginKit
import RouteOverride
import Static

/// How a delegate that is one of this executable's own plugins is run — multus's networks, a main
/// plugin's IPAM (macvlan's host-local): in this process,
/// through the same skeleton, with exactly the environment and stdin an exec would get — one
/// process start (exec, libc's and Swift's start-up, page faults) less per network. A plugin
/// found in CNI_PATH as anything else (a Go plugin, another version of ours) is exec'd as the
/// spec says. Only plugins that never hand over to `swift-cni-full` and never exit the process
/// run here; a namespace a plugin enters is always left again (NetNS.run), on this thread. The
/// price: a delegate that traps (a bug) takes the caller with it — multus's delegate cache,
/// written before its first delegate, is left for the runtime's DEL — where an exec'd one's crash
/// was an error the caller undid.
public struct InProcessInvoker: PluginInvoker {
    /// The plugins that may run inside another plugin's process.
    public static let names = ["bridge", "egress-router", "host-device", "host-local", "ipvlan", "macvlan", "passthru",
                               "route-override", "static"]

    let exec = ExecPluginInvoker()

    public init() {}

    /// Whether `path` is this executable (a link or hard link to it is the same file; a copy, or
    /// `swift-cni` beside `swift-cni-full`, may be another version: exec'd). Asked only when a
    /// delegate is run, so a plugin that never calls its IPAM pays nothing for it. An executable
    /// replaced on disk while this one runs reads "… (deleted)": nothing is ours then.
    static func isThisExecutable(_ path: String) -> Bool {
        guard let me = try? FileSystem.readLink("/proc/self/exe"), let own = FileSystem.identity(me) else { return false }
        return FileSystem.identity(path) == own
    }

    public func invoke(type: String, paths: [String], environment: [String: String], stdin: [UInt8]) throws(CNIError) -> [UInt8] {
        guard Self.names.contains(type), let path = try? PluginLocator.find(type, in: paths), Self.isThisExecutable(path),
              let out = run(type, environment: environment, stdin: stdin) else {
            return try exec.invoke(type: type, paths: paths, environment: environment, stdin: stdin)
        }
        // What the plugin says on stderr goes where an exec'd one's would: ours.
        if !out.stderr.isEmpty { try? FileSystem.writeAll(fd: 2, out.stderr) }
        if out.exitCode == 0 { return out.stdout }
        throw PluginFailure.interpret(type: type, status: out.exitCode, stdout: out.stdout, stderr: out.stderr)
    }

    /// The plugin, its own delegates (IPAM) run the same way.
    func run(_ type: String, environment: [String: String], stdin: [UInt8]) -> Skeleton.Output? {
        let ipam = Delegate(invoker: InProcessInvoker())
        func skeleton(_ plugin: some Plugin) -> Skeleton.Output {
            #if DEBUG
            FaultInjection.isolated { Skeleton.run(plugin, environment: environment, calledAs: type) { stdin } }
            #else
            Skeleton.run(plugin, environment: environment, calledAs: type) { stdin }
            #endif
        }
        switch type {
        case "bridge": return skeleton(BridgePlugin(delegate: ipam))
        case "egress-router": return skeleton(EgressRouterPlugin())
        case "host-device": return skeleton(HostDevicePlugin(delegate: ipam))
        case "host-local": return skeleton(HostLocalPlugin())
        case "ipvlan": return skeleton(IpvlanPlugin(delegate: ipam))
        case "macvlan": return skeleton(MacvlanPlugin(delegate: ipam))
        case "passthru": return skeleton(PassthruPlugin())
        case "route-override": return skeleton(RouteOverridePlugin())
        case "static": return skeleton(StaticPlugin())
        default: return nil
        }
    }
}
