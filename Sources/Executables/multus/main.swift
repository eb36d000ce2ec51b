import Multus
import PluginKit

Skeleton.main(MultusPlugin())
