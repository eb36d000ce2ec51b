import Basics
import Bridge
import CNIInvoke
import DHCPIPAM
import EgressRouter
import Glibc
import HostDevice
import LinuxSystem
import HostLocal
import Ipvlan
import Macvlan
import Multus
import PluginKit
import RouteOverride
import Static
import Whereabouts

/// One executable, every plugin (as busybox): the name it is run by — /opt/cni/bin/macvlan is a
/// link to it — picks the plugin. Two such executables share this table: `swift-cni`, the
/// per-pod one, and `swift-cni-full`, which adds the Kubernetes and etcd clients and the
/// daemons' command lines (see PluginKit's Handoff); they differ only in the roles given here.
public enum Applets {
    /// Every plugin name, as installed in /opt/cni/bin.
    public static let names = ["bridge", "dhcp", "egress-router", "host-device", "host-local", "ipvlan", "macvlan",
                               "multus", "passthru", "route-override", "static", "whereabouts"]

    /// The roles that differ between the two executables.
    /// Made only when called (a host-local run makes no multus).
    public struct Roles {
        public var multus: () -> MultusPlugin
        public var whereabouts: () -> WhereaboutsPlugin
        /// `whereabouts reconcile …` (arguments after "reconcile").
        public var reconcile: ([String]) -> Never
        /// `dhcp daemon …` (arguments after "daemon").
        public var dhcpDaemon: ([String]) -> Never

        public init(multus: @escaping () -> MultusPlugin, whereabouts: @escaping () -> WhereaboutsPlugin,
                    reconcile: @escaping ([String]) -> Never, dhcpDaemon: @escaping ([String]) -> Never) {
            (self.multus, self.whereabouts, self.reconcile, self.dhcpDaemon) = (multus, whereabouts, reconcile, dhcpDaemon)
        }
    }

    /// Runs the plugin this process was called as; `executable` is the file's own name, under
    /// which `--list` prints the plugin names (what an installer links).
    public static func main(executable: String, _ roles: Roles) -> Never {
        let argv = CommandLine.arguments
        let called = argv.first.map(FileSystem.baseName) ?? ""
        let rest = Array(argv.dropFirst())
        // A main plugin's IPAM, when it is one of ours, runs in this process (InProcessInvoker).
        let ipam = { Delegate(invoker: InProcessInvoker()) }
        switch called {
        case "bridge": Skeleton.main(BridgePlugin(delegate: ipam()))
        case "dhcp":
            if rest.first == "daemon" { roles.dhcpDaemon(Array(rest.dropFirst())) }
            Skeleton.main(DHCPPlugin())
        case "egress-router": Skeleton.main(EgressRouterPlugin())
        case "host-device": Skeleton.main(HostDevicePlugin(delegate: ipam()))
        case "host-local": Skeleton.main(HostLocalPlugin())
        case "ipvlan": Skeleton.main(IpvlanPlugin(delegate: ipam()))
        case "macvlan": Skeleton.main(MacvlanPlugin(delegate: ipam()))
        case "multus": Skeleton.main(roles.multus())
        case "passthru": Skeleton.main(PassthruPlugin())
        case "route-override": Skeleton.main(RouteOverridePlugin())
        case "static": Skeleton.main(StaticPlugin())
        case "whereabouts":
            if rest.first == "reconcile" { roles.reconcile(Array(rest.dropFirst())) }
            Skeleton.main(roles.whereabouts())
        default:
            if rest == ["--list"] {
                print(names.joined(separator: "\n"))
                exit(0)
            }
            if rest == ["--version"] {
                print("\(executable) \(SwiftCNI.version)")
                exit(0)
            }
            let usage = """
                \(executable) \(SwiftCNI.version): the swift-cni plugins in one executable, each run by its own name.
                Link each name of `\(executable) --list` to this file (ln -s \(executable) /opt/cni/bin/NAME) and run
                it as a CNI plugin. Called as "\(called)", which is none of them.

                """
            FileSystem.writeStderr(usage)
            exit(2)
        }
    }
}
