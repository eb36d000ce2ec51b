import PluginKit
import Whereabouts

Skeleton.main(WhereaboutsPlugin())
