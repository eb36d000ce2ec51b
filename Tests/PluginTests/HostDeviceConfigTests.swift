import CNI
import HostDevice
import IPAddressing
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

    @Test(arguments: ["", #","hwaddr":"zz""#, #","kernelpath":"/etc/passwd""#, #","kernelpath":"/sys/devices/../../etc""#])
    func invalid(extra: String) {
        #expect((#expect(throws: CNIError.self) { try selector(extra) })?.code == 7)
    }
}
