import Applets
import Glibc
import LinuxSystem
import Multus
import MultusCluster
import Whereabouts
import WhereaboutsCluster

// Every plugin with everything: multus and whereabouts with their Kubernetes and etcd clients,
// `whereabouts reconcile`, `dhcp daemon`. `swift-cni` hands such runs over to this one.
Applets.main(executable: "swift-cni-full", Applets.Roles(
    multus: { .withKubernetes(invoker: InProcessInvoker()) }, whereabouts: { .withClusterStores() },
    reconcile: { arguments in exit(Reconciler.main(arguments, environment: ProcessEnvironment.current())) },
    dhcpDaemon: { arguments in DaemonCommand.run(arguments) }))
