import PluginKit
import Static

Skeleton.main(StaticPlugin())
