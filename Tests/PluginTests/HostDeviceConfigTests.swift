import CNI
import Foundation
@testable import HostDevice
import IPAddressing
import Netlink
import Testing

@Suite struct HostDeviceConfigTests {
    func selector(_ extra: String) throws -> HostDeviceConfig.Selector {
        try HostDeviceConfig(NetConf(bytes: Array(#"{"cniVersion":"1.0.0","name":"n","type":"host-device"\#(extra)}"#.utf8))).selector
    }

    @Test func precedence() throws {
        #expect(try selector(#","device":"eth1","hwaddr":"c2:00:00:00:00:01""#) == .name("eth1"))
        #expect(try selector(#","hwaddr":"C2:00:00:00:00:01","kernelpath":"/sys/devices/pci0000:00/0000:00:03.0""#)
                == .mac(MACAddress("c2:00:00:00:00:01")!))
        #expect(try selector(#","kernelpath":"/sys/devices/pci0000:00/0000:00:03.0","pciBusID":"0000:00:03.0""#)
                == .kernelPath("/sys/devices/pci0000:00/0000:00:03.0"))
        #expect(try selector(#","pciBusID":"0000:00:03.0""#) == .pciBusID("0000:00:03.0"))
        // runtimeConfig.deviceID (the device plugin's choice) replaces pciBusID, not the others.
        #expect(try selector(#","pciBusID":"0000:00:03.0","runtimeConfig":{"deviceID":"0000:04:00.5"}"#) == .deviceID("0000:04:00.5"))
        #expect(try selector(#","device":"eth1","runtimeConfig":{"deviceID":"0000:04:00.5"}"#) == .name("eth1"))
        #expect(try selector(#","runtimeConfig":{"deviceID":"mlx5_core.sf.4"}"#) == .deviceID("mlx5_core.sf.4"))
    }

    @Test(arguments: ["", #","hwaddr":"zz""#, #","kernelpath":"/etc/passwd""#, #","kernelpath":"/sys/devices/../../etc""#,
                      #","kernelpath":"/sys/devices/..""#, #","kernelpath":"/sys/devices/pci0000:00/../..""#])
    func invalid(extra: String) {
        #expect((#expect(throws: CNIError.self) { try selector(extra) })?.code == 7)
    }
}

@Suite struct DeviceStateTests {
    func conf(_ extra: String) throws -> HostDeviceConfig {
        try HostDeviceConfig(NetConf(bytes: Array(#"{"cniVersion":"1.0.0","name":"n","type":"host-device","device":"eth1"\#(extra)}"#.utf8)))
    }

    @Test func dataDirKey() throws {
        #expect(try conf("").stateDirectory == "/var/lib/cni/host-device")
        #expect(try conf(#","dataDir":"/run/hd""#).stateDirectory == "/run/hd")
        for bad in [#","dataDir":"/run/../etc""#, #","dataDir":5"#] {
            #expect((#expect(throws: CNIError.self) { try conf(bad) })?.code == 7)
        }
    }

    /// What ADD saves is what DEL reads back, in a file under <dataDir>/<containerID>/<ifName>
    /// that goes (with its directory) once removed.
    @Test func savedAndLoaded() throws {
        let dir = "/tmp/swcni-hdstate-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { _ = try? FileManager.default.removeItem(atPath: dir) }
        let store = DeviceStateStore(directory: dir)
        var route = Route(destination: IPPrefix("10.83.0.0/16")!, gateway: IPAddress("10.82.0.1"), linkIndex: 7, priority: 50)
        route.table = 100
        let state = DeviceState(hostName: "eth1", mac: MACAddress("c2:00:00:00:0d:01"), alias: "uplink", up: true, mtu: 1400,
                                addresses: [IPPrefix("10.82.0.5/24")!, IPPrefix("fd00:82::5/64")!],
                                routes: [.init(route: route, protocol: 4),
                                         .init(route: Route(destination: IPPrefix("fd00:85::/64")!, linkIndex: 7, scope: 253), protocol: 3)])
        #expect(try store.load(containerID: "c1", ifName: "net1") == nil)
        try store.save(state, containerID: "c1", ifName: "net1")
        var loaded = try #require(try store.load(containerID: "c1", ifName: "net1"))
        // The link index is the host's at DEL time, not saved.
        for i in loaded.routes.indices { loaded.routes[i].route.linkIndex = 7 }
        #expect(loaded == state)
        store.remove(containerID: "c1", ifName: "net1")
        #expect(!FileManager.default.fileExists(atPath: dir + "/c1"))
        try FileManager.default.createDirectory(atPath: dir + "/c2", withIntermediateDirectories: true)
        try "{".write(toFile: dir + "/c2/net1", atomically: true, encoding: .utf8)
        #expect((#expect(throws: CNIError.self) { try store.load(containerID: "c2", ifName: "net1") })?.code == 6)
    }
}
