import CNI
import Foundation
import IPAddressing
import Kubernetes
import KubernetesClient
@testable import Multus
import Testing
import Yams
import TestSupport

/// A cluster that answers from dictionaries.
final class FakeAPI: ClusterAPI, @unchecked Sendable {
    var pods: [String: Pod] = [:]
    var nads: [String: NetworkAttachmentDefinition] = [:]
    var patches: [(String, [String: String?])] = []

    func pod(namespace: String, name: String) throws(KubeError) -> Pod {
        guard let p = pods["\(namespace)/\(name)"] else { throw KubeError(.status(404), "GET pod", "pods \"\(name)\" not found") }
        return p
    }
    func networkAttachmentDefinition(namespace: String, name: String) throws(KubeError) -> NetworkAttachmentDefinition {
        guard let n = nads["\(namespace)/\(name)"] else { throw KubeError(.status(404), "GET nad", "not found") }
        return n
    }
    func patchPodAnnotations(namespace: String, name: String, _ annotations: [String: String?]) throws(KubeError) {
        patches.append(("\(namespace)/\(name)", annotations))
    }
    var events: [String] = []
    func recordPodEvent(_ pod: Pod, reason: String, message: String, component: String) throws(KubeError) { events.append("\(reason): \(message)") }
    func nad(_ ns: String, _ name: String, _ config: String, annotations: [String: String] = [:]) {
        nads["\(ns)/\(name)"] = .init(namespace: ns, name: name, config: config, annotations: annotations)
    }
    var devices = PodDevices()
    var deviceReads: [String] = []
    func podDevices(_ pod: Pod, kubeletRoot: String) throws(CNIError) -> PodDevices {
        deviceReads.append("\(pod.namespace)/\(pod.name) \(kubeletRoot)")
        return devices
    }
}

@Suite struct NetworkSelectionTests {
    @Test func commaForm() throws {
        let s = try NetworkSelection.parse(" macvlan-conf , other/bridge-conf@net7,ns2/x ", podNamespace: "default")
        #expect(s.map(\.namespace) == ["default", "other", "ns2"])
        #expect(s.map(\.name) == ["macvlan-conf", "bridge-conf", "x"])
        #expect(s.map(\.interface) == [nil, "net7", nil])
        #expect(try NetworkSelection.parse("", podNamespace: "d").isEmpty)
    }

    @Test func jsonForm() throws {
        let s = try NetworkSelection.parse(#"""
            [{"name":"macvlan-conf","namespace":"ns1","interface":"ext0","ips":["10.1.1.5/24"],"mac":"c2:b0:57:49:47:f1",
              "default-route":["10.1.1.1"],"cni-args":{"foo":"bar"},"portMappings":[{"hostPort":80}],"deviceID":"0000:04:00.5"},
             {"name":"plain"}]
            """#, podNamespace: "default")
        #expect(s.count == 2)
        #expect(s[0].namespace == "ns1" && s[0].interface == "ext0" && s[0].ips == ["10.1.1.5/24"] && s[0].mac == "c2:b0:57:49:47:f1")
        #expect(s[0].defaultRoute.map(\.description) == ["10.1.1.1"] && s[0].cniArgs?["foo"] == "bar" && s[0].deviceID == "0000:04:00.5")
        #expect(s[1].namespace == "default" && s[1].interface == nil)
    }

    @Test(arguments: ["a/b/c", "a@b@c", "Upper", "-lead", "x@a%d", "x@with space", #"[{"namespace":"x"}]"#, "[", #"{"name":"x"}"#,
                      #"[{"name":"x","ips":["nope"]}]"#, #"[{"name":"x","mac":"zz"}]"#,
                      #"[{"name":"x","default-route":["10.0.0.1","10.0.0.2"]}]"#])
    func invalid(text: String) {
        #expect((#expect(throws: CNIError.self) { try NetworkSelection.parse(text, podNamespace: "default") })?.code == 7)
    }
}

@Suite struct DelegateResolverTests {
    let dir: TemporaryDirectory
    init() throws {
        dir = try TemporaryDirectory("swcni-multus")
        try dir.write("net.d/10-by-name.conf", #"{"cniVersion":"0.4.0","name":"by-name","type":"bridge"}"#)
        try dir.write("net.d/20-empty-spec.conflist", #"{"cniVersion":"1.0.0","name":"empty-spec","plugins":[{"type":"host-device","device":"eth9"}]}"#)
        try dir.write("cluster/00-first.conflist", #"{"cniVersion":"1.0.0","name":"first","plugins":[{"type":"bridge"}]}"#)
    }

    func conf(_ extra: String) throws -> MultusConfig {
        try MultusConfig(NetConf(bytes: Array(#"{"cniVersion":"1.0.0","name":"multus-cni-network","type":"multus","confDir":"\#(dir.file("net.d"))"\#(extra)}"#.utf8)))
    }

    /// auxiliaryCNIChainName: `<dir of clusterNetwork>/<name>/*.conf` behind a passthru, as the
    /// last network (net<index>); nothing there, no chain; clusterNetwork not a path, code 7.
    @Test func auxiliaryChain() throws {
        let cluster = dir.file("cluster/00-first.conflist")
        try dir.write("cluster/aux-chain/20-sbr.conf", #"{"name":"sbr","type":"sbr"}"#)
        try dir.write("cluster/aux-chain/10-tune.conf", #"{"name":"tune","type":"tuning","sysctl":{"net.ipv4.conf.eth0.arp_filter":"1"}}"#)
        try dir.write("cluster/aux-chain/ignored.json", #"{"type":"bridge"}"#)
        var r = DelegateResolver(conf: try conf(#","clusterNetwork":"\#(cluster)","auxiliaryCNIChainName":"aux-chain""#), api: nil, ifName: "eth0")
        let ds = try r.resolve(pod: nil)
        #expect(ds.map(\.ifName) == ["eth0", "net1"] && ds[1].name == "aux-chain" && !ds[1].isMaster)
        let plugins = ds[1].config["plugins"]?.arrayValue ?? []
        #expect(plugins.map { $0["type"]?.stringValue ?? "" } == ["passthru", "tuning", "sbr"])
        #expect(ds[1].config["name"] == "aux-chain" && ds[1].config["cniVersion"] == "1.0.0")
        r = DelegateResolver(conf: try conf(#","clusterNetwork":"\#(cluster)","auxiliaryCNIChainName":"no-such-dir""#), api: nil, ifName: "eth0")
        #expect(try r.resolve(pod: nil).count == 1)
        r = DelegateResolver(conf: try conf(#","clusterNetwork":"by-name","auxiliaryCNIChainName":"aux-chain""#), api: nil, ifName: "eth0")
        #expect((#expect(throws: CNIError.self) { try r.resolve(pod: nil) })?.code == 7)
        try dir.write("cluster/aux-chain/30-bad.conf", #"{"name":"no-type"}"#)
        r = DelegateResolver(conf: try conf(#","clusterNetwork":"\#(cluster)","auxiliaryCNIChainName":"aux-chain""#), api: nil, ifName: "eth0")
        #expect((#expect(throws: CNIError.self) { try r.resolve(pod: nil) })?.code == 7)
    }

    @Test func clusterNetworkFromANADThenByNameThenADirectory() throws {
        let api = FakeAPI()
        api.nad("kube-system", "default-net", #"{"cniVersion":"1.0.0","type":"bridge"}"#)
        var r = DelegateResolver(conf: try conf(#","clusterNetwork":"default-net""#), api: api, ifName: "eth0")
        var d = try r.resolve(pod: nil)
        #expect(d.map(\.name) == ["kube-system/default-net"] && d[0].ifName == "eth0" && d[0].isMaster)
        #expect(d[0].config["name"] == "default-net")  // filled from the NAD
        r = DelegateResolver(conf: try conf(#","clusterNetwork":"by-name""#), api: api, ifName: "eth0")
        d = try r.resolve(pod: nil)
        #expect(d.map(\.name) == ["by-name"])
        r = DelegateResolver(conf: try conf(#","clusterNetwork":"\#(dir.file("cluster"))""#), api: nil, ifName: "eth0")
        #expect(try r.resolve(pod: nil).map(\.name) == ["first"])
        r = DelegateResolver(conf: try conf(#","clusterNetwork":"missing""#), api: api, ifName: "eth0")
        #expect((#expect(throws: CNIError.self) { try r.resolve(pod: nil) })?.code == 7)
    }

    @Test func annotationNetworksGetNetNamesInOrderAndTheirArguments() throws {
        let api = FakeAPI()
        api.nad("ns1", "mv", #"{"cniVersion":"0.3.1","type":"macvlan","master":"eth0"}"#)
        api.nad("ns1", "list", #"{"cniVersion":"1.0.0","name":"list","plugins":[{"type":"macvlan"},{"type":"route-override"}]}"#)
        api.nad("ns1", "empty-spec", "")
        let pod = Pod(namespace: "ns1", name: "web", annotations: [NetworkSelection.annotation: #"""
            [{"name":"mv"},{"name":"list","interface":"ext1","ips":["10.1.1.5/24"],"mac":"c2:00:00:00:00:01","cni-args":{"a":"b"}},
             {"name":"empty-spec"}]
            """#])
        let r = DelegateResolver(conf: try conf(#","delegates":[{"cniVersion":"1.0.0","name":"cluster","type":"bridge"}],"runtimeConfig":{"portMappings":[]}"#),
                                 api: api, ifName: "eth0")
        let d = try r.resolve(pod: pod)
        #expect(d.map(\.name) == ["cluster", "ns1/mv", "ns1/list", "ns1/empty-spec"])
        #expect(d.map(\.ifName) == ["eth0", "net1", "ext1", "net3"])
        #expect(d[0].capabilityArgs["portMappings"] == .array([]))   // runtimeConfig: the master only
        #expect(d[1].config["name"] == "mv")
        #expect(d[2].capabilityArgs["ips"] == ["10.1.1.5/24"] && d[2].capabilityArgs["mac"] == "c2:00:00:00:00:01")
        #expect(d[2].extraArgs == [.init("IP", "10.1.1.5/24"), .init("MAC", "c2:00:00:00:00:01")])
        // cni-args go into every plugin's args.cni.
        #expect(d[2].config["plugins"]?.arrayValue?.allSatisfy { $0["args"]?["cni"]?["a"] == "b" } == true)
        #expect(d[3].config["name"] == "empty-spec" && d[3].config["plugins"]?.arrayValue?.first?["device"] == "eth9")
    }

    @Test func isolationDefaultNetworksAndTheDefaultNetworkAnnotation() throws {
        let api = FakeAPI()
        api.nad("kube-system", "cluster", #"{"cniVersion":"1.0.0","type":"bridge"}"#)
        api.nad("kube-system", "extra", #"{"cniVersion":"1.0.0","type":"macvlan"}"#)
        api.nad("kube-system", "alt", #"{"cniVersion":"1.0.0","type":"ipvlan"}"#)
        api.nad("other", "x", #"{"cniVersion":"1.0.0","type":"macvlan"}"#)
        api.nad("default", "g", #"{"cniVersion":"1.0.0","type":"macvlan"}"#)
        let c = try conf(#","clusterNetwork":"cluster","defaultNetworks":["extra"],"namespaceIsolation":true"#)
        let r = DelegateResolver(conf: c, api: api, ifName: "eth0")
        #expect(try r.resolve(pod: Pod(namespace: "ns1", name: "p")).map(\.name) == ["kube-system/cluster", "kube-system/extra"])
        // System namespaces get no default networks (upstream compares the pod's name by mistake).
        #expect(try r.resolve(pod: Pod(namespace: "kube-system", name: "p")).map(\.name) == ["kube-system/cluster"])
        let other = Pod(namespace: "ns1", name: "p", annotations: [NetworkSelection.annotation: "other/x"])
        #expect((#expect(throws: CNIError.self) { try r.resolve(pod: other) })?.code == 7)
        let global = Pod(namespace: "ns1", name: "p", annotations: [NetworkSelection.annotation: "default/g"])
        #expect(try r.resolve(pod: global).last?.name == "default/g")
        let alt = Pod(namespace: "ns1", name: "p", annotations: [NetworkSelection.defaultNetworkAnnotation: "alt"])
        let d = try r.resolve(pod: alt)
        #expect(d[0].name == "kube-system/alt" && d[0].isMaster && d[0].ifName == "eth0")
    }

    @Test func oneDefaultRoutePerFamilyAndUniqueInterfaces() throws {
        let api = FakeAPI()
        api.nad("ns1", "a", #"{"cniVersion":"1.0.0","type":"macvlan"}"#)
        let r = DelegateResolver(conf: try conf(#","delegates":[{"cniVersion":"1.0.0","name":"c","type":"bridge"}]"#), api: api, ifName: "eth0")
        let two = Pod(namespace: "ns1", name: "p", annotations: [NetworkSelection.annotation:
            #"[{"name":"a","default-route":["10.0.0.1"]},{"name":"a","interface":"x1","default-route":["10.0.1.1"]}]"#])
        #expect((#expect(throws: CNIError.self) { try r.resolve(pod: two) })?.code == 7)
        let dup = Pod(namespace: "ns1", name: "p", annotations: [NetworkSelection.annotation: "a@eth0"])
        #expect((#expect(throws: CNIError.self) { try r.resolve(pod: dup) })?.code == 7)
        let missing = Pod(namespace: "ns1", name: "p", annotations: [NetworkSelection.annotation: "nope"])
        #expect((#expect(throws: CNIError.self) { try r.resolve(pod: missing) })?.code == 7)
    }
}

@Suite struct ScratchCacheTests {
    @Test func roundTripAndCorruption() throws {
        let dir = try TemporaryDirectory("swcni-mcache")
        defer { dir.remove() }
        let cache = ScratchCache(directory: dir.file("multus"))
        #expect(try cache.read("ctr1") == nil)
        let config = JSONObject([("type", .string("macvlan")), ("cniVersion", .string("1.0.0")), ("name", .string("mv"))])
        let d = MultusDelegate(name: "ns1/mv", config: config, ifName: "net1",
                               isMaster: false, capabilityArgs: JSONObject([("ips", .array([.string("10.1.1.5/24")]))]), extraArgs: [.init("IP", "10.1.1.5/24")],
                               defaultRoute: [IPAddress("10.1.1.1")!])
        let entry = ScratchCache.Entry(podNamespace: "ns1", podName: "web", podUID: "u1", delegates: [d])
        try cache.write("ctr1", entry)
        #expect(try cache.read("ctr1") == entry)
        #expect(cache.containerIDs() == ["ctr1"])
        try "{\"kind\":\"swiftCNIMultusV1\",".write(toFile: cache.path("ctr2"), atomically: true, encoding: .utf8)
        #expect((#expect(throws: CNIError.self) { try cache.read("ctr2") })?.code == 6)
    }
}

/// Conf/multus-nads.yaml: every NAD of OpenShift's documentation becomes a configuration the
/// runtime can run, named after the NAD when it has no name of its own.
@Suite struct NADExampleTests {
    @Test func everyExampleResolves() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Conf/multus-nads.yaml").path
        let text = try String(contentsOfFile: file, encoding: .utf8)
        let api = FakeAPI()
        var names: [String] = []
        for doc in try Yams.compose_all(yaml: text) {
            let name = try #require(doc["metadata"]?["name"]?.string)
            var annotations: [String: String] = [:]
            for (k, v) in doc["metadata"]?["annotations"]?.mapping ?? [:] { annotations[k.string ?? ""] = v.string ?? "" }
            api.nad("default", name, try #require(doc["spec"]?["config"]?.string), annotations: annotations)
            names.append(name)
        }
        #expect(names.count == 8)
        api.devices = PodDevices(["openshift.io/intelnics": ["0000:18:02.5"]])
        let conf = try MultusConfig(NetConf(bytes: Array(#"{"cniVersion":"1.0.0","name":"m","type":"multus","delegates":[{"type":"bridge"}]}"#.utf8)))
        let r = DelegateResolver(conf: conf, api: api, ifName: "eth0")
        let d = try r.resolve(pod: Pod(namespace: "default", name: "p", annotations: [NetworkSelection.annotation: names.joined(separator: ",")]))
        #expect(d.dropFirst().map(\.name) == names.map { "default/\($0)" })
        #expect(d.dropFirst().map(\.ifName) == (1...8).map { "net\($0)" })
        for delegate in d.dropFirst() { _ = try delegate.list() }
        #expect(d[8].config["pciBusID"] == "0000:18:02.5" && d[8].config["type"] == "host-device")
        #expect(try d[1].list().name == "my-cni2-conf")
    }
}

@Suite struct MultusLogOptionsTests {
    @Test func logOptionsAreRead() throws {
        let conf = try MultusConfig(NetConf(bytes: Array(#"{"cniVersion":"1.0.0","name":"m","type":"multus","logFile":"/var/log/multus.log","logOptions":{"maxAge":5,"maxSize":100,"maxBackups":5,"compress":true},"delegates":[{"type":"bridge"}]}"#.utf8)))
        #expect(conf.logRotation == .init(maxSizeMB: 100, maxBackups: 5, maxAgeDays: 5))
        let none = try MultusConfig(NetConf(bytes: Array(#"{"cniVersion":"1.0.0","name":"m","type":"multus","delegates":[{"type":"bridge"}]}"#.utf8)))
        #expect(none.logRotation == nil)
        #expect(throws: CNIError.self) {
            try MultusConfig(NetConf(bytes: Array(#"{"cniVersion":"1.0.0","name":"m","type":"multus","logOptions":{"maxSize":-1},"delegates":[{"type":"bridge"}]}"#.utf8)))
        }
    }
}

/// `k8s.v1.cni.cncf.io/resourceName`: the pod's devices of that resource (from kubelet, read
/// once), one per network in order, written into every plugin as deviceID and pciBusID, given
/// to non-master delegates as the deviceID capability with a CNIDeviceInfoFile.
@Suite struct ResourceNameTests {
    @Test func devicesGoToTheNetworksThatNameTheirResourceInOrder() throws {
        let dir = try TemporaryDirectory("swcni-multus-dev")
        defer { dir.remove() }
        let api = FakeAPI()
        let sriov = ["k8s.v1.cni.cncf.io/resourceName": "intel.com/sriov_a"]
        api.nad("kube-system", "cluster", #"{"cniVersion":"1.0.0","type":"bridge"}"#)
        api.nad("ns1", "vf", #"{"cniVersion":"1.0.0","type":"sriov","vlan":5}"#, annotations: sriov)
        api.nad("ns1", "vf-list", #"{"cniVersion":"1.0.0","name":"vl","plugins":[{"type":"sriov"},{"type":"tuning"}]}"#, annotations: sriov)
        api.nad("ns1", "plain", #"{"cniVersion":"1.0.0","type":"macvlan"}"#)
        api.devices = PodDevices(["intel.com/sriov_a": ["0000:03:00.2", "0000:03:00.3"]])
        let pod = Pod(namespace: "ns1", name: "web", uid: "u1", annotations: [NetworkSelection.annotation: #"""
            [{"name":"vf","deviceID":"0000:99:00.1"},{"name":"plain","deviceID":"0000:04:00.5"},{"name":"vf-list"},{"name":"vf","interface":"vf3"}]
            """#])
        let conf = try MultusConfig(NetConf(bytes: Array(#"""
            {"cniVersion":"1.0.0","name":"multus-cni-network","type":"multus","clusterNetwork":"cluster","kubeletRootDir":"/k"}
            """#.utf8)))
        var d = try DelegateResolver(conf: conf, api: api, ifName: "eth0").resolve(pod: pod)
        #expect(api.deviceReads == ["ns1/web /k"])
        #expect(d.map(\.ifName) == ["eth0", "net1", "net2", "net3", "vf3"])
        // The first device to the first network naming the resource; the resource's device wins
        // over the selection's own deviceID.
        #expect(d[1].config["deviceID"] == "0000:03:00.2" && d[1].config["pciBusID"] == "0000:03:00.2" && d[1].config["vlan"] == 5)
        #expect(d[1].capabilityArgs["deviceID"] == "0000:03:00.2")
        #expect(d[1].device == Device(resourceName: "intel.com/sriov_a", id: "0000:03:00.2"))
        // No resource: the selection's deviceID as a capability, the config untouched.
        #expect(d[2].config["deviceID"] == nil && d[2].capabilityArgs["deviceID"] == "0000:04:00.5" && d[2].device == nil)
        // A conflist: every plugin.
        #expect(d[3].config["plugins"]?.arrayValue?.map { $0["deviceID"]?.stringValue ?? "" } == ["0000:03:00.3", "0000:03:00.3"])
        #expect(d[3].config["plugins"]?.arrayValue?.map { $0["pciBusID"]?.stringValue ?? "" } == ["0000:03:00.3", "0000:03:00.3"])
        // The pod has no third device: the network goes without one (as upstream).
        #expect(d[4].config["deviceID"] == nil && d[4].device == nil && d[4].capabilityArgs["deviceID"] == nil)
        #expect(d[0].config["deviceID"] == nil)

        DeviceInfo.assign(&d, directory: "/run/di", containerID: "c1")
        #expect(d.map { DeviceInfo.file($0) } == [nil, "/run/di/cni/ns1-vf-c1_net1", "/run/di/cni/ns1-plain-c1_net2",
                                                   "/run/di/cni/ns1-vf-list-c1_net3", nil])
        // The device survives the delegate cache (DEL and the copy use it).
        #expect(try MultusDelegate(json: d[1].json) == d[1])

        // No resourceName anywhere, or a pod without a name: kubelet is not asked.
        let quiet = FakeAPI()
        quiet.nad("kube-system", "cluster", #"{"cniVersion":"1.0.0","type":"bridge"}"#)
        quiet.nad("ns1", "plain", #"{"cniVersion":"1.0.0","type":"macvlan"}"#)
        _ = try DelegateResolver(conf: conf, api: quiet, ifName: "eth0")
            .resolve(pod: Pod(namespace: "ns1", name: "web", annotations: [NetworkSelection.annotation: "plain"]))
        #expect(quiet.deviceReads.isEmpty)
    }

    /// The cluster network and the default networks count devices too (upstream reads them in
    /// that order); the master gets its device in its config only, the others as a capability too.
    @Test func theClusterAndDefaultNetworksTakeDevicesFirst() throws {
        let api = FakeAPI()
        let sriov = ["k8s.v1.cni.cncf.io/resourceName": "r/x"]
        api.nad("kube-system", "cluster", #"{"cniVersion":"1.0.0","type":"sriov"}"#, annotations: sriov)
        api.nad("kube-system", "extra", #"{"cniVersion":"1.0.0","type":"sriov"}"#, annotations: sriov)
        api.nad("ns1", "vf", #"{"cniVersion":"1.0.0","type":"sriov"}"#, annotations: sriov)
        api.devices = PodDevices(["r/x": ["a", "b", "c"]])
        let conf = try MultusConfig(NetConf(bytes: Array(#"""
            {"cniVersion":"1.0.0","name":"m","type":"multus","clusterNetwork":"cluster","defaultNetworks":["extra"]}
            """#.utf8)))
        let d = try DelegateResolver(conf: conf, api: api, ifName: "eth0")
            .resolve(pod: Pod(namespace: "ns1", name: "web", annotations: [NetworkSelection.annotation: "vf"]))
        #expect(d.map { $0.config["deviceID"]?.stringValue ?? "" } == ["a", "b", "c"])
        #expect(d.map { $0.capabilityArgs["deviceID"]?.stringValue ?? "" } == ["", "b", "c"])
        // A DEL that must resolve again goes on without devices when kubelet fails.
        final class Failing: ClusterAPI, @unchecked Sendable {
            let inner: FakeAPI
            init(_ inner: FakeAPI) { self.inner = inner }
            func pod(namespace: String, name: String) throws(KubeError) -> Pod { try inner.pod(namespace: namespace, name: name) }
            func networkAttachmentDefinition(namespace: String, name: String) throws(KubeError) -> NetworkAttachmentDefinition {
                try inner.networkAttachmentDefinition(namespace: namespace, name: name)
            }
            func patchPodAnnotations(namespace: String, name: String, _ annotations: [String: String?]) throws(KubeError) {}
            func recordPodEvent(_ pod: Pod, reason: String, message: String, component: String) throws(KubeError) {}
            func podDevices(_ pod: Pod, kubeletRoot: String) throws(CNIError) -> PodDevices { throw CNIError(.tryAgainLater, "no kubelet") }
        }
        let pod = Pod(namespace: "ns1", name: "web", annotations: [NetworkSelection.annotation: "vf"])
        #expect((#expect(throws: CNIError.self) { try DelegateResolver(conf: conf, api: Failing(api), ifName: "eth0").resolve(pod: pod) })?.code == 11)
        let teardown = DelegateResolver(conf: conf, api: Failing(api), ifName: "eth0", devices: DeviceAllocation(bestEffort: true))
        #expect(try teardown.resolve(pod: pod).map(\.name) == ["kube-system/cluster", "kube-system/extra", "ns1/vf"])
        #expect(teardown.devices.ignored?.code == 11)
    }

    @Test func theDevicePluginsFileIsCopiedAndReadBack() throws {
        let dir = try TemporaryDirectory("swcni-multus-devinfo")
        defer { dir.remove() }
        let info = #"{"type":"pci","version":"1.1.0","pci":{"pci-address":"0000:03:00.2"}}"#
        try dir.write("devinfo/dp/intel.com-sriov_a-0000:03:00.2-device.json", info)
        var d = [MultusDelegate(name: "ns1/vf", config: JSONObject([("type", .string("sriov"))]), ifName: "net1", isMaster: false)]
        d[0].device = Device(resourceName: "intel.com/sriov_a", id: "0000:03:00.2")
        DeviceInfo.assign(&d, directory: dir.file("devinfo"), containerID: "c1")
        try DeviceInfo.copyFromDevicePlugin(d[0], directory: dir.file("devinfo"))
        #expect(DeviceInfo.read(d[0])?["pci"]?["pci-address"] == "0000:03:00.2")
        DeviceInfo.remove(d[0])
        #expect(DeviceInfo.read(d[0]) == nil && !FileManager.default.fileExists(atPath: dir.file("devinfo/cni/ns1-vf-c1_net1")))
        // No file from the device plugin: an error the ADD logs, nothing written.
        d[0].device = Device(resourceName: "intel.com/sriov_a", id: "0000:03:00.3")
        #expect(throws: (any Error).self) { try DeviceInfo.copyFromDevicePlugin(d[0], directory: dir.file("devinfo")) }
        #expect(DeviceInfo.read(d[0]) == nil)
    }
}
