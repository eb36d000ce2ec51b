import Ipvlan
import PluginKit

Skeleton.main(IpvlanPlugin())
