import HostLocal
import PluginKit

Skeleton.main(HostLocalPlugin())
