import Bridge
import PluginKit

Skeleton.main(BridgePlugin())
