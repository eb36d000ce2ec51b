import HostDevice
import PluginKit

Skeleton.main(HostDevicePlugin())
