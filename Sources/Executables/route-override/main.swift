import PluginKit
import RouteOverride

Skeleton.main(RouteOverridePlugin())
