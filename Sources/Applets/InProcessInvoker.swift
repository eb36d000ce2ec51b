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

/// How multus runs a delegate that is one of this executable's own plugins: in this process,
/// through the same skeleton, with exactly the environment and stdin an exec would get — one
/// process start (exec, libc's and Swift's start-up, page faults) less per network. A plugin
/// found in CNI_PATH as anything else (a Go plugin, another version of ours) is exec'd as the
/// spec says. Only plugins that never hand over to `swift-cni-full` and never exit the process
/// run here; a namespace a plugin enters is always left again (NetNS.run), on this thread.
public struct InProcessInvoker: PluginInvoker {
    /// The plugins that may run inside multus's process.
    public static let names: Set<String> = ["bridge", "egress-router", "host-device", "host-local", "ipvlan", "macvlan",
                                            "passthru", "route-override", "static"]

    let exec = ExecPluginInvoker()
    /// This executable, and `swift-cni` beside it when this is `swift-cni-full` (the installer puts
    /// them together; the per-pod one is the other's subset).
    let own: [[UInt64]]

    public init() {
        var own: [[UInt64]] = []
        if let me = try? FileSystem.readLink("/proc/self/exe") {
            if let id = FileSystem.identity(me) { own.append(id) }
            if FileSystem.baseName(me) == "swift-cni-full", let id = FileSystem.identity(FileSystem.directoryName(me) + "/swift-cni") {
                own.append(id)
            }
        }
        self.own = own
    }

    public func invoke(type: String, paths: [String], environment: [String: String], stdin: [UInt8]) throws(CNIError) -> [UInt8] {
        guard Self.names.contains(type), let path = try? PluginLocator.find(type, in: paths),
              let id = FileSystem.identity(path), own.contains(id) else {
            return try exec.invoke(type: type, paths: paths, environment: environment, stdin: stdin)
        }
        guard let out = Self.run(type, environment: environment, stdin: stdin) else {
            return try exec.invoke(type: type, paths: paths, environment: environment, stdin: stdin)
        }
        if out.exitCode == 0 { return out.stdout }
        throw PluginFailure.interpret(type: type, status: out.exitCode, stdout: out.stdout, stderr: out.stderr)
    }

    static func run(_ type: String, environment: [String: String], stdin: [UInt8]) -> Skeleton.Output? {
        func skeleton(_ plugin: some Plugin) -> Skeleton.Output {
            #if DEBUG
            FaultInjection.isolated { Skeleton.run(plugin, environment: environment, calledAs: type) { stdin } }
            #else
            Skeleton.run(plugin, environment: environment, calledAs: type) { stdin }
            #endif
        }
        switch type {
        case "bridge": return skeleton(BridgePlugin())
        case "egress-router": return skeleton(EgressRouterPlugin())
        case "host-device": return skeleton(HostDevicePlugin())
        case "host-local": return skeleton(HostLocalPlugin())
        case "ipvlan": return skeleton(IpvlanPlugin())
        case "macvlan": return skeleton(MacvlanPlugin())
        case "passthru": return skeleton(PassthruPlugin())
        case "route-override": return skeleton(RouteOverridePlugin())
        case "static": return skeleton(StaticPlugin())
        default: return nil
        }
    }
}
