import CNI
import Foundation
import Testing
import TestSupport

/// Tests that need kernel features the project machines lack (dummy links, 802.1Q VLANs,
/// ipvlan, bridge VLAN filtering). They run inside the qemu guest that
/// Integration/KernelLab/run-in-guest.sh boots (SWCNI_IN_GUEST=1), from the README's test command.
enum Guest {
    static let active = ProcessInfo.processInfo.environment["SWCNI_IN_GUEST"] == "1"
}

@Suite(.enabled(if: Guest.active, "runs in the kernel-lab guest (Integration/KernelLab)"))
struct GuestKernelTests {
    @Test func hostDeviceMovesADummyDevice() throws {
        let s = try HostAndPod()
        try s.host.ip("link", "add", "dum0", "type", "dummy")
        try s.host.ip("link", "set", "dum0", "address", "c2:00:00:00:0e:01")
        try s.host.ip("link", "set", "dum0", "up")
        let conf = #"{"cniVersion":"1.0.0","name":"hd","type":"host-device","hwaddr":"c2:00:00:00:0e:01","ipam":{"type":"static","addresses":[{"address":"10.83.0.5/24"}]}}"#
        let hostDevice = BuildProducts.path("host-device")
        let add = try s.plugin(hostDevice, "ADD", conf, ifName: "net1")
        try #require(add.status == 0, "\(add.stdout)")
        let inPod = try #require(try s.pod.link("net1"))
        #expect(inPod["linkinfo"]?["info_kind"] == "dummy" && inPod["ifalias"] == "dum0")
        #expect(try s.pod.addresses("net1") == ["10.83.0.5/24"])
        #expect(try s.host.link("dum0") == nil)
        #expect(try s.plugin(hostDevice, "DEL", conf, ifName: "net1").status == 0)
        let back = try #require(try s.host.link("dum0"))
        #expect(back["address"] == "c2:00:00:00:0e:01" && back["flags"]?.arrayValue?.contains("UP") == false)
        // The pod namespace deleted with the device inside: a dummy goes back to the root
        // namespace... of the guest; the reservation-free static IPAM leaves nothing to release.
    }

    @Test func macvlanOnADummyAndOnAVLANMaster() throws {
        let s = try HostAndPod()
        try s.host.ip("link", "add", "dum1", "type", "dummy")
        try s.host.ip("link", "set", "dum1", "up")
        try s.host.ip("link", "add", "link", "dum1", "name", "dum1.100", "type", "vlan", "id", "100")
        try s.host.ip("link", "set", "dum1.100", "up")
        let macvlan = BuildProducts.path("macvlan")
        for (master, ifName) in [("dum1", "eth0"), ("dum1.100", "net1")] {
            let conf = #"{"cniVersion":"1.0.0","name":"mv","type":"macvlan","master":"\#(master)","mode":"bridge","ipam":{"type":"host-local","subnet":"10.84.0.0/24","dataDir":"\#(s.dataDir)"}}"#
            let add = try s.plugin(macvlan, "ADD", conf, ifName: ifName, containerID: "c-\(ifName)")
            try #require(add.status == 0, "\(add.stdout)")
            let link = try #require(try s.pod.link(ifName))
            #expect(link["linkinfo"]?["info_kind"] == "macvlan")
            let hostMaster = try #require(try s.host.link(master))
            #expect(link["link_index"] == hostMaster["ifindex"])
        }
        #expect(try s.host.link("dum1.100")?["linkinfo"]?["info_data"]?["id"] == 100)
        // Deleting the VLAN master takes its macvlan with it; DEL still succeeds and releases.
        try s.host.ip("link", "del", "dum1.100")
        let conf = #"{"cniVersion":"1.0.0","name":"mv","type":"macvlan","master":"dum1.100","ipam":{"type":"host-local","subnet":"10.84.0.0/24","dataDir":"\#(s.dataDir)"}}"#
        #expect(try s.plugin(macvlan, "DEL", conf, ifName: "net1", containerID: "c-net1").status == 0)
        #expect(try s.pod.link("net1") == nil)
        let left = try FileManager.default.contentsOfDirectory(atPath: s.dataDir + "/mv").filter { $0.hasPrefix("10.") }
        #expect(left.count == 1)  // only eth0's
    }
}
