import EgressRouter
import PluginKit

Skeleton.main(EgressRouterPlugin())
