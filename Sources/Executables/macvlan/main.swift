import Macvlan
import PluginKit

Skeleton.main(MacvlanPlugin())
