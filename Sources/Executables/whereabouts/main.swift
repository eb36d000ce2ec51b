import Glibc
import LinuxSystem
import PluginKit
import Whereabouts

// `whereabouts reconcile …` frees the addresses of pods that are gone; otherwise a CNI plugin.
if CommandLine.arguments.count > 1 && CommandLine.arguments[1] == "reconcile" {
    exit(Reconciler.main(Array(CommandLine.arguments.dropFirst(2)), environment: ProcessEnvironment.current()))
}
Skeleton.main(WhereaboutsPlugin())
