import Applets
import Multus
import PluginKit
import Whereabouts

// The per-pod executable: every plugin, without the network clients and the daemons (Handoff).
Applets.main(executable: "swift-cni", Applets.Roles(
    multus: { .perPod(invoker: InProcessInvoker()) }, whereabouts: { .perPod() },
    reconcile: { _ in Handoff.command("whereabouts reconcile") },
    dhcpDaemon: { _ in Handoff.command("dhcp daemon") }))
