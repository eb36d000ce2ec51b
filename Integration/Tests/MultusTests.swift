import CNI
import Foundation
import Testing
import TestSupport

/// multus attaching several networks to one pod namespace, with NetworkAttachmentDefinitions and
/// the pod's annotation served by the Kubernetes API test server (in the test's host namespace,
/// where the plugins run), the delegates being our own plugins.
@Suite(.enabled(if: Root.required, "needs root (network namespaces)"))
struct MultusTests {
    let multus = BuildProducts.path("multus")

    /// The scene: host + pod namespaces (vparent0 for macvlan, hd0 for host-device), the API
    /// server with namespace ns1, pod "web", and NADs of every kind the test uses.
    final class Scene: @unchecked Sendable {
        let s: HostAndPod
        let api: KubeAPIServer
        let uid: String
        init(annotation: String?, extraNADs: [(String, String)] = []) throws {
            s = try HostAndPod()
            api = try KubeAPIServer(netns: s.host.path)
            try s.host.ip("link", "add", "hd0", "type", "veth", "peer", "name", "hd0p")
            try s.host.ip("link", "set", "hd0", "address", "c2:00:00:00:0d:01")
            try api.createPod("ns1", "web", annotations: annotation.map { ["k8s.v1.cni.cncf.io/networks": $0] } ?? [:])
            uid = try api.get("/api/v1/namespaces/ns1/pods/web")?["metadata"]?["uid"]?.stringValue ?? ""
            let data = s.dataDir
            try api.createNAD("kube-system", "cluster", config: #"""
                {"cniVersion":"1.0.0","type":"bridge","bridge":"swbr0","isGateway":true,
                 "ipam":{"type":"host-local","subnet":"10.60.0.0/24","routes":[{"dst":"0.0.0.0/0"}],"dataDir":"\#(data)"}}
                """#)
            try api.createNAD("ns1", "mv", config: #"""
                {"cniVersion":"0.3.1","type":"macvlan","master":"vparent0","mode":"bridge",
                 "ipam":{"type":"host-local","subnet":"10.61.0.0/24","routes":[{"dst":"10.99.0.0/16"}],"gateway":"10.61.0.1","dataDir":"\#(data)"}}
                """#)
            try api.createNAD("ns1", "hd", config: #"{"cniVersion":"1.0.0","type":"host-device","device":"hd0","dataDir":"\#(data)/hd-state"}"#)
            try api.createNAD("ns1", "mv-static", config: #"""
                {"cniVersion":"1.0.0","name":"mv-static","plugins":[
                  {"type":"macvlan","master":"vparent0","capabilities":{"mac":true,"ips":true},"ipam":{"type":"static"}},
                  {"type":"route-override","addroutes":[{"dst":"192.168.50.0/24","gw":"10.62.0.254"}]}]}
                """#)
            for (name, config) in extraNADs { try api.createNAD("ns1", name, config: config) }
        }

        var args: String { "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=ctr1;K8S_POD_UID=\(uid)" }

        func conf(_ extra: String = "") throws -> String {
            #"""
            {"cniVersion":"1.0.0","name":"multus-cni-network","type":"multus","clusterNetwork":"cluster",
             "kubeconfig":"\#(try api.kubeconfig())","cniDir":"\#(s.dir.file("multus"))","binDir":"\#(BuildProducts.directory)",
             "confDir":"\#(s.dir.file("multus.d"))"\#(extra)}
            """#
        }

        func run(_ command: String, _ conf: String, netns: String? = nil, containerID: String = "ctr1",
                 args: String? = nil) throws -> Command {
            try s.plugin(BuildProducts.path("multus"), command, conf, ifName: "eth0", containerID: containerID, netns: netns,
                         args: args ?? self.args)
        }

        func reservations(_ network: String) -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: s.dataDir + "/" + network)) ?? [])
                .filter { $0 != "lock" && !$0.hasPrefix("last_reserved") && !$0.hasPrefix(".owner-") }.sorted()
        }

        var podLinks: [String] {
            ((try? s.pod.ipJSON("link", "show").arrayValue) ?? []).compactMap { $0["ifname"]?.stringValue }.sorted()
        }

        var networkStatus: [JSONValue] {
            let text = (try? api.get("/api/v1/namespaces/ns1/pods/web"))?["metadata"]?["annotations"]?["k8s.v1.cni.cncf.io/network-status"]?.stringValue
            return text.flatMap { try? JSONValue.parse($0).arrayValue } ?? []
        }
    }

    @Test func aPodGetsItsClusterNetworkAndEveryNetworkItAsksFor() throws {
        let sc = try Scene(annotation: #"""
            [{"name":"mv","interface":"net1"},{"name":"hd"},
             {"name":"mv-static","interface":"ext0","ips":["10.62.0.5/24"],"mac":"c2:00:00:00:aa:01"}]
            """#)
        let log = sc.s.dir.file("multus.log")
        let conf = try sc.conf(#","logFile":"\#(log)","logLevel":"verbose","logToStderr":false"#)
        let add = try sc.run("ADD", conf)
        try #require(add.status == 0, "\(add.stdout)")
        // The log says what was attached, as upstream's event does.
        let logged = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(logged.contains("[verbose] Add net1 [10.61.0.2/24] from ns1/mv"), "\(logged)")
        // The master's result is what multus answers: the bridge's, on eth0.
        #expect(add.json?["ips"]?.arrayValue?.first?["address"] == "10.60.0.2/24")
        #expect(sc.podLinks == ["eth0", "ext0", "lo", "net1", "net2"])
        #expect(try sc.s.pod.addresses("eth0") == ["10.60.0.2/24"])
        #expect(try sc.s.pod.addresses("net1") == ["10.61.0.2/24"])
        #expect(try sc.s.pod.link("net2")?["address"] == "c2:00:00:00:0d:01")       // hd0, moved in
        #expect(try sc.s.pod.addresses("ext0") == ["10.62.0.5/24"])                // static ips from the annotation
        #expect(try sc.s.pod.link("ext0")?["address"] == "c2:00:00:00:aa:01")      // and its mac
        let routes = try sc.s.pod.ipJSON("route", "show").arrayValue ?? []
        #expect(routes.contains { $0["dst"] == "192.168.50.0/24" && $0["gateway"] == "10.62.0.254" && $0["dev"] == "ext0" })
        #expect(routes.contains { $0["dst"] == "10.99.0.0/16" && $0["dev"] == "net1" })

        // network-status on the API server says what the kernel shows.
        let status = sc.networkStatus
        #expect(status.map { $0["name"]?.stringValue ?? "" } == ["kube-system/cluster", "ns1/mv", "ns1/hd", "ns1/mv-static"])
        #expect(status.map { $0["interface"]?.stringValue ?? "" } == ["eth0", "net1", "net2", "ext0"])
        #expect(status[0]["ips"] == ["10.60.0.2"] && status[0]["default"] == true && status[0]["gateway"] == ["10.60.0.1"])
        #expect(status[1]["ips"] == ["10.61.0.2"] && status[1]["default"] == false)
        #expect(status[1]["mac"]?.stringValue == (try sc.s.pod.link("net1")?["address"]?.stringValue))
        #expect(status[3]["mac"] == "c2:00:00:00:aa:01" && status[3]["ips"] == ["10.62.0.5"])
        // Events on the pod, as upstream posts them.
        let events = (try sc.api.get("/api/v1/namespaces/ns1/events"))?["items"]?.arrayValue ?? []
        #expect(Set(events.map { $0["message"]?.stringValue ?? "" }) == [
            "Add eth0 [10.60.0.2/24] from kube-system/cluster", "Add net1 [10.61.0.2/24] from ns1/mv",
            "Add net2 [] from ns1/hd", "Add ext0 [10.62.0.5/24] from ns1/mv-static"], "\(events.map { $0["message"]?.stringValue ?? "" })")
        #expect(events.allSatisfy { $0["reason"] == "AddedInterface" && $0["involvedObject"]?["uid"]?.stringValue == sc.uid })

        let check = try sc.run("CHECK", conf)
        #expect(check.status == 0, "\(check.stdout)")
        let del = try sc.run("DEL", conf)
        #expect(del.status == 0, "\(del.stdout)")
        #expect(sc.podLinks == ["lo"])
        #expect(try sc.s.host.link("hd0") != nil)                                  // given back
        #expect(sc.reservations("cluster").isEmpty && sc.reservations("mv").isEmpty)
        #expect(!FileManager.default.fileExists(atPath: sc.s.dir.file("multus/ctr1")))
        #expect(try sc.run("DEL", conf).status == 0)                               // and again
    }

    /// The 2nd of 3 networks fails: the 1st is taken down again (no interface, no reservation),
    /// and the error names the network.
    @Test func aFailingNetworkUndoesTheOnesBeforeIt() throws {
        let sc = try Scene(annotation: "mv,broken,hd",
                           extraNADs: [("broken", #"{"cniVersion":"1.0.0","type":"macvlan","master":"nonexistent0"}"#)])
        let add = try sc.run("ADD", try sc.conf())
        #expect(add.status == 1)
        #expect(add.json?["msg"]?.stringValue?.contains("ns1/broken") == true, "\(add.stdout)")
        #expect(add.json?["code"] == 7)
        #expect(sc.podLinks == ["lo"])
        #expect(sc.reservations("cluster").isEmpty && sc.reservations("mv").isEmpty)
        #expect(try sc.s.host.link("hd0") != nil)
        #expect(!FileManager.default.fileExists(atPath: sc.s.dir.file("multus/ctr1")))
    }

    /// auxiliaryCNIChainName on a host (clusterNetwork a file, no API): the chain in its
    /// subdirectory runs after the pod's networks behind our passthru — here Debian's Go tuning
    /// sets a sysctl on the pod's eth0 — and DEL runs it again in reverse.
    @Test func theAuxiliaryChainRunsAfterThePodsNetworks() throws {
        let s = try HostAndPod()
        try s.dir.write("net.d/10-cluster.conflist", #"{"cniVersion":"1.0.0","name":"cluster","plugins":[{"type":"macvlan","master":"\#(s.parent)","ipam":{"type":"host-local","subnet":"10.64.0.0/24","dataDir":"\#(s.dataDir)"}}]}"#)
        try s.dir.write("net.d/aux-chain/10-tune.conf", #"{"name":"tune","type":"tuning","sysctl":{"net.ipv4.conf.eth0.arp_filter":"1"}}"#)
        let conf = #"{"cniVersion":"1.0.0","name":"multus-cni-network","type":"multus","clusterNetwork":"\#(s.dir.file("net.d/10-cluster.conflist"))","auxiliaryCNIChainName":"aux-chain","cniDir":"\#(s.dir.file("multus"))","binDir":"\#(BuildProducts.directory)"}"#
        let path = BuildProducts.directory + ":/usr/lib/cni"
        let add = try s.plugin(multus, "ADD", conf, cniPath: path)
        try #require(add.status == 0, "\(add.stdout)")
        #expect(add.json?["ips"]?.arrayValue?.first?["address"] == "10.64.0.2/24")  // the master's result
        #expect(try s.pod.run(["cat", "/proc/sys/net/ipv4/conf/eth0/arp_filter"], env: [:]).stdout == "1\n")
        let cached = try JSONValue.parse(try s.dir.read("multus/ctr1")).objectValue?["delegates"]?.arrayValue ?? []
        #expect(cached.count == 2)
        let del = try s.plugin(multus, "DEL", conf, cniPath: path)
        #expect(del.status == 0, "\(del.stdout)")
        #expect(try s.pod.link("eth0") == nil && !FileManager.default.fileExists(atPath: s.dir.file("multus/ctr1")))
    }

    /// The network-status cannot be written (the API server answers 500 to the status patch,
    /// every retry): the pod's networks are undone like any failed step (upstream returns the
    /// error and leaves them attached, unreported).
    @Test func aNetworkStatusThatCannotBeWrittenUndoesTheNetworks() throws {
        let sc = try Scene(annotation: "mv")
        try sc.api.fault("PATCH", "/api/v1/namespaces/ns1/pods/web/status", status: 500, count: 100)
        let add = try sc.run("ADD", try sc.conf())
        #expect(add.status == 1 && add.json?["msg"]?.stringValue?.contains("network-status") == true, "\(add.stdout)")
        #expect(sc.podLinks == ["lo"])
        #expect(sc.reservations("cluster").isEmpty && sc.reservations("mv").isEmpty)
        #expect(!FileManager.default.fileExists(atPath: sc.s.dir.file("multus/ctr1")))
    }

    /// A conflist whose later plugin fails (route-override, after macvlan attached and reserved):
    /// that network's own work is undone too, with the networks before it.
    @Test func aNetworkWhoseChainFailsHalfWayLeavesNothing() throws {
        let data = "/tmp/swcni-multus-chain-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: data) }
        let sc = try Scene(annotation: "mv,halfway", extraNADs: [("halfway", #"""
            {"cniVersion":"1.0.0","name":"halfway","plugins":[
              {"type":"macvlan","master":"vparent0","ipam":{"type":"host-local","subnet":"10.63.0.0/24","dataDir":"\#(data)"}},
              {"type":"route-override","addecmproutes":[{"dst":"10.99.0.0/16","gws":["192.0.2.1"]}]}]}
            """#)])
        let add = try sc.run("ADD", try sc.conf())
        #expect(add.status == 1 && add.json?["msg"]?.stringValue?.contains("ns1/halfway") == true, "\(add.stdout)")
        #expect(sc.podLinks == ["lo"])
        #expect(sc.reservations("cluster").isEmpty && sc.reservations("mv").isEmpty)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: data + "/halfway")) ?? []).filter { $0.hasPrefix("10.") }.isEmpty)
    }

    /// DEL with the API server gone still takes every network down, from the cache.
    @Test func delWithTheAPIServerStoppedRemovesEverything() throws {
        let sc = try Scene(annotation: "mv@net1,hd@net2")
        let conf = try sc.conf()
        try #require(try sc.run("ADD", conf).status == 0)
        #expect(sc.podLinks == ["eth0", "lo", "net1", "net2"])
        sc.api.stop()
        let del = try sc.run("DEL", conf)
        #expect(del.status == 0, "\(del.stdout)")
        #expect(sc.podLinks == ["lo"])
        #expect(sc.reservations("cluster").isEmpty && sc.reservations("mv").isEmpty)
        #expect(try sc.s.host.link("hd0") != nil)
    }

    /// Without the cache and without the API the delegates are unknown: DEL fails (11) and keeps
    /// what it cannot resolve, instead of succeeding and leaking (multus#920, #1087).
    @Test func delWithoutCacheOrAPIIsAnErrorNotALeak() throws {
        let sc = try Scene(annotation: "mv@net1")
        let conf = try sc.conf()
        try #require(try sc.run("ADD", conf).status == 0)
        try "{ corrupt".write(toFile: sc.s.dir.file("multus/ctr1"), atomically: true, encoding: .utf8)
        let corrupt = try sc.run("DEL", conf)
        #expect(corrupt.status == 1 && corrupt.json?["code"] == 6, "\(corrupt.stdout)")
        #expect(sc.reservations("mv") == ["10.61.0.2"])                            // nothing silently dropped
        try FileManager.default.removeItem(atPath: sc.s.dir.file("multus/ctr1"))
        sc.api.stop()
        let noAPI = try sc.run("DEL", conf)
        #expect(noAPI.status == 1 && noAPI.json?["code"] == 11, "\(noAPI.stdout)")
        #expect(sc.reservations("mv") == ["10.61.0.2"])
    }

    /// A pod already deleted at ADD: nothing attached, the placeholder result (as upstream).
    @Test func aPodThatIsGoneGetsNothing() throws {
        let sc = try Scene(annotation: "mv")
        try sc.api.call("DELETE", "/api/v1/namespaces/ns1/pods/web")
        let add = try sc.run("ADD", try sc.conf())
        #expect(add.status == 0, "\(add.stdout)")
        #expect(add.json?["ips"]?.arrayValue?.first?["address"] == "0.0.0.0/0")
        #expect(sc.podLinks == ["lo"])
    }

    /// `default-route`: the pod's default route moves to the network that asks for it, the
    /// results and network-status say so, and CHECK agrees with the kernel.
    @Test func defaultRouteMovesToTheNetworkThatAsks() throws {
        let sc = try Scene(annotation: #"[{"name":"mv","default-route":["10.61.0.1"]}]"#)
        let conf = try sc.conf()
        let add = try sc.run("ADD", conf)
        try #require(add.status == 0, "\(add.stdout)")
        let defaults = (try sc.s.pod.ipJSON("route", "show", "default").arrayValue ?? [])
        #expect(defaults.count == 1 && defaults.first?["gateway"] == "10.61.0.1" && defaults.first?["dev"] == "net1")
        #expect(add.json?["routes"]?.arrayValue?.contains { $0["dst"] == "0.0.0.0/0" } != true)  // the master lost it
        #expect(sc.networkStatus.map { $0["default"] } == [false, true])
        let check = try sc.run("CHECK", conf)
        #expect(check.status == 0, "\(check.stdout)")
        #expect(try sc.run("DEL", conf).status == 0)
        #expect(sc.podLinks == ["lo"])
    }

    /// GC (1.1.0): an attachment the runtime no longer lists is taken down (links, reservations,
    /// caches), the live one is left alone.
    @Test func gcTakesDownWhatTheRuntimeNoLongerHas() throws {
        let sc = try Scene(annotation: "mv")
        let pod2 = try NetNS("pod2")
        try sc.api.createPod("ns1", "web2", annotations: ["k8s.v1.cni.cncf.io/networks": "mv"])
        let conf = try sc.conf().replacingOccurrences(of: #""cniVersion":"1.0.0","name":"multus-cni-network""#,
                                                        with: #""cniVersion":"1.1.0","name":"multus-cni-network""#)
        try #require(try sc.run("ADD", conf).status == 0)
        let second = try sc.run("ADD", conf, netns: pod2.path, containerID: "ctr2",
                                args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=web2")
        try #require(second.status == 0, "\(second.stdout)")
        #expect(sc.reservations("mv").count == 2 && sc.reservations("cluster").count == 2)
        let gcConf = conf.dropLast() + #","cni.dev/valid-attachments":[{"containerID":"ctr1","ifname":"eth0"}]}"#
        let gc = try sc.s.host.exec([BuildProducts.path("multus")], env: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": "GC",
                                                                        "CNI_PATH": BuildProducts.directory]).withStdin(String(gcConf))
        #expect(gc.status == 0, "\(gc.stdout)")
        #expect(sc.reservations("mv") == ["10.61.0.2"] && sc.reservations("cluster") == ["10.60.0.2"])
        #expect(try pod2.ipJSON("link", "show").arrayValue?.count == 1)            // only lo
        #expect(sc.podLinks == ["eth0", "lo", "net1"])
        #expect(FileManager.default.fileExists(atPath: sc.s.dir.file("multus/ctr1")))
        #expect(!FileManager.default.fileExists(atPath: sc.s.dir.file("multus/ctr2")))
    }

    /// NADs annotated with a resourceName (SR-IOV's way): the pod's devices of that resource, as
    /// kubelet's PodResources API lists them (grpcio over a unix socket), one per network in
    /// order, in every plugin's config (deviceID, pciBusID) and as the deviceID capability; the
    /// device plugin's device-info file handed over as CNIDeviceInfoFile and shown in
    /// network-status; DEL removes it. A kubelet that refuses the call fails the ADD cleanly.
    @Test func resourceNameNetworksGetThePodsDevices() throws {
        let sc = try Scene(annotation: #"[{"name":"vf-a"},{"name":"mv"},{"name":"vf-b","interface":"vf1"}]"#)
        let kubelet = try PodResourcesServer(pods: [
            ("ns1", "other", [("intel.com/sriov_a", ["0000:03:00.7"])]),
            ("ns1", "web", [("intel.com/sriov_a", ["0000:03:00.2", "0000:03:00.3"])]),
        ])
        let log = sc.s.dir.file("noop.log"), devinfo = sc.s.dir.file("devinfo"), netns = sc.s.pod.path
        try sc.s.dir.write("devinfo/dp/intel.com-sriov_a-0000:03:00.2-device.json",
                           #"{"type":"pci","version":"1.1.0","pci":{"pci-address":"0000:03:00.2"}}"#)
        let sriov = ["k8s.v1.cni.cncf.io/resourceName": "intel.com/sriov_a"]
        try sc.api.createNAD("ns1", "vf-a", config: #"""
            {"cniVersion":"1.0.0","type":"cni-noop","capabilities":{"deviceID":true,"CNIDeviceInfoFile":true},
             "noop":{"log":"\#(log)","result":{"cniVersion":"1.0.0","interfaces":[{"name":"net1","sandbox":"\#(netns)"}],
                                              "ips":[{"address":"10.70.0.5/24","interface":0}]}}}
            """#, annotations: sriov)
        try sc.api.createNAD("ns1", "vf-b", config: #"""
            {"cniVersion":"1.0.0","name":"vf-b","plugins":[
              {"type":"cni-noop","noop":{"log":"\#(log)","result":{"cniVersion":"1.0.0","interfaces":[{"name":"vf1","sandbox":"\#(netns)"}]}}},
              {"type":"cni-noop","noop":{"log":"\#(log)"}}]}
            """#, annotations: sriov)
        let conf = try sc.conf(#","kubeletRootDir":"\#(kubelet.kubeletRoot)","deviceInfoDir":"\#(devinfo)""#)
        let add = try sc.run("ADD", conf)
        try #require(add.status == 0, "\(add.stdout)")
        let calls = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n")
            .compactMap { try? JSONValue.parse(String($0)) }
        let configs = calls.compactMap { $0["stdin"]?.stringValue.flatMap { try? JSONValue.parse($0) } }
        try #require(configs.count == 3, "\(calls)")
        // vf-a: the pod's first device, in its config and as its capabilities.
        #expect(configs[0]["deviceID"] == "0000:03:00.2" && configs[0]["pciBusID"] == "0000:03:00.2")
        #expect(configs[0]["runtimeConfig"]?["deviceID"] == "0000:03:00.2")
        let infoFile = devinfo + "/cni/ns1-vf-a-ctr1_net1"
        #expect(configs[0]["runtimeConfig"]?["CNIDeviceInfoFile"]?.stringValue == infoFile)
        #expect((try? String(contentsOfFile: infoFile, encoding: .utf8))?.contains("0000:03:00.2") == true)
        // vf-b, a conflist: the second device in both plugins.
        #expect(configs[1...].allSatisfy { $0["deviceID"] == "0000:03:00.3" && $0["pciBusID"] == "0000:03:00.3" })
        // The macvlan network between them is untouched and real.
        #expect(sc.podLinks == ["eth0", "lo", "net2"])
        #expect(try sc.s.pod.addresses("net2") == ["10.61.0.2/24"])
        let status = sc.networkStatus
        #expect(status.map { $0["interface"]?.stringValue ?? "" } == ["eth0", "net1", "net2", "vf1"])
        #expect(status[1]["device-info"]?["pci"]?["pci-address"] == "0000:03:00.2")
        #expect(status[1]["ips"] == ["10.70.0.5"])
        #expect(status[2]["device-info"] == nil && status[3]["device-info"] == nil)

        // The DELs get the devices the ADD had from multus's cache: kubelet is not asked.
        kubelet.stop()
        let del = try sc.run("DEL", conf)
        #expect(del.status == 0, "\(del.stdout)")
        #expect(!FileManager.default.fileExists(atPath: infoFile))
        let dels = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n")
            .compactMap { try? JSONValue.parse(String($0)) }.filter { $0["command"] == "DEL" }
        #expect(dels.compactMap { $0["stdin"]?.stringValue.flatMap { try? JSONValue.parse($0) }?["deviceID"]?.stringValue }.sorted()
                == ["0000:03:00.2", "0000:03:00.3", "0000:03:00.3"])
        #expect(sc.podLinks == ["lo"] && sc.reservations("mv").isEmpty && sc.reservations("cluster").isEmpty)

        // kubelet refusing: the ADD fails and leaves nothing.
        let refusing = try PodResourcesServer()
        try refusing.failWith("PERMISSION_DENIED")
        let failed = try sc.run("ADD", try sc.conf(#","kubeletRootDir":"\#(refusing.kubeletRoot)","deviceInfoDir":"\#(devinfo)""#),
                                containerID: "ctr2")
        #expect(failed.status == 1 && failed.json?["details"]?.stringValue?.contains("gRPC status 7") == true, "\(failed.stdout)")
        #expect(sc.podLinks == ["lo"] && sc.reservations("mv").isEmpty && sc.reservations("cluster").isEmpty)
        #expect(!FileManager.default.fileExists(atPath: sc.s.dir.file("multus/ctr2")))
        // The runtime's DEL of that sandbox (no cache: resolved again) does not need kubelet.
        let delRefused = try sc.run("DEL", try sc.conf(#","kubeletRootDir":"\#(refusing.kubeletRoot)","deviceInfoDir":"\#(devinfo)""#),
                                    containerID: "ctr2")
        #expect(delRefused.status == 0, "\(delRefused.stdout)")
    }

    /// multus runs a delegate that is one of its own executable's plugins inside its own process,
    /// and that plugin its IPAM (no exec: one process start less each), and execs everything else — here Go's
    /// bridge, found in binDir under a name we also have. strace shows the execs; the kernel
    /// shows both networks, and DEL takes both away.
    @Test func ourOwnDelegatesRunInMultussProcessOthersAreExecd() throws {
        let s = try HostAndPod()
        let bin = s.dir.file("bin")
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        for name in ["macvlan", "host-local"] {
            try FileManager.default.createSymbolicLink(atPath: bin + "/" + name, withDestinationPath: BuildProducts.path("swift-cni"))
        }
        try FileManager.default.createSymbolicLink(atPath: bin + "/bridge", withDestinationPath: "/usr/lib/cni/bridge")
        let data = s.dataDir
        let conf = #"""
            {"cniVersion":"1.0.0","name":"multus-local","type":"multus","cniDir":"\#(s.dir.file("multus"))","binDir":"\#(bin)","delegates":[
              {"cniVersion":"1.0.0","name":"own","type":"macvlan","master":"vparent0","mode":"bridge",
               "ipam":{"type":"host-local","subnet":"10.65.0.0/24","dataDir":"\#(data)"}},
              {"cniVersion":"0.4.0","name":"go","type":"bridge","bridge":"swgobr0",
               "ipam":{"type":"host-local","subnet":"10.66.0.0/24","dataDir":"\#(data)"}}]}
            """#
        let trace = s.dir.file("execs")
        let add = try s.plugin("/usr/bin/strace", "ADD", conf, cniPath: bin, extraEnv: [:],
                               prefix: ["-f", "-qq", "-e", "trace=execve", "-e", "signal=none", "-o", trace, BuildProducts.path("multus")])
        try #require(add.status == 0, "\(add.stdout)")
        let execs = ((try? String(contentsOfFile: trace, encoding: .utf8)) ?? "").split(separator: "\n")
            .filter { $0.contains("execve(") && !$0.contains("ENOENT") }
            .compactMap { line in line.split(separator: "\"").dropFirst().first.map { URL(fileURLWithPath: String($0)).lastPathComponent } }
        // Our macvlan and its host-local run inside multus; Go's bridge is exec'd, and execs its IPAM.
        #expect(execs == ["multus", "bridge", "host-local"], "\(execs)")
        #expect(try s.pod.addresses("eth0") == ["10.65.0.2/24"])
        #expect(try s.pod.addresses("net1") == ["10.66.0.2/24"])
        #expect(try s.pod.link("eth0")?["linkinfo"]?["info_kind"] == "macvlan")
        let del = try s.plugin(BuildProducts.path("multus"), "DEL", conf, cniPath: bin)
        #expect(del.status == 0, "\(del.stdout)")
        #expect(((try? s.pod.ipJSON("link", "show").arrayValue) ?? []).compactMap { $0["ifname"]?.stringValue } == ["lo"])
        _ = try? s.host.ip("link", "del", "swgobr0")
    }

    /// Ten networks on one pod.
    @Test func tenNetworks() throws {
        var nads: [(String, String)] = []
        for i in 0..<10 {
            nads.append(("n\(i)", #"{"cniVersion":"1.0.0","type":"macvlan","master":"vparent0","ipam":{"type":"host-local","subnet":"10.7\#(i).0.0/24","dataDir":"/tmp/swcni-multus-ten"}}"#))
        }
        defer { try? FileManager.default.removeItem(atPath: "/tmp/swcni-multus-ten") }
        let sc = try Scene(annotation: (0..<10).map { "n\($0)" }.joined(separator: ","), extraNADs: nads)
        let conf = try sc.conf()
        let add = try sc.run("ADD", conf)
        try #require(add.status == 0, "\(add.stdout)")
        #expect(sc.podLinks == (["eth0", "lo"] + (1...10).map { "net\($0)" }).sorted())
        #expect(sc.networkStatus.count == 11)
        #expect(try sc.run("DEL", conf).status == 0)
        #expect(sc.podLinks == ["lo"])
    }
}

/// multus in the kernel-lab guest (Debian's kernel has ipvlan): a pod's ipvlan network from a
/// NetworkAttachmentDefinition on the API test server, beside the cluster network.
@Suite(.enabled(if: Guest.active, "runs in the kernel-lab guest (Integration/KernelLab)"))
struct MultusGuestTests {
    @Test func anIpvlanNetworkFromANAD() throws {
        let sc = try MultusTests.Scene(annotation: #"[{"name":"iv","interface":"iv1"}]"#)
        try sc.s.host.ip("link", "add", "ivm0", "type", "dummy")
        try sc.s.host.ip("link", "set", "ivm0", "up")
        try sc.api.createNAD("ns1", "iv", config: #"""
            {"cniVersion":"1.0.0","type":"ipvlan","master":"ivm0","mode":"l2",
             "ipam":{"type":"host-local","subnet":"10.64.0.0/24","dataDir":"\#(sc.s.dataDir)"}}
            """#)
        let conf = try sc.conf()
        let add = try sc.run("ADD", conf)
        try #require(add.status == 0, "\(add.stdout)")
        #expect(sc.podLinks == ["eth0", "iv1", "lo"])
        #expect(try sc.s.pod.link("iv1")?["linkinfo"]?["info_kind"] == "ipvlan")
        #expect(try sc.s.pod.addresses("iv1") == ["10.64.0.2/24"])
        let status = sc.networkStatus
        #expect(status.map { $0["name"]?.stringValue ?? "" } == ["kube-system/cluster", "ns1/iv"])
        #expect(status[1]["interface"] == "iv1" && status[1]["ips"] == ["10.64.0.2"])
        // ipvlan shares the master's MAC: network-status says the same as the kernel.
        #expect(status[1]["mac"]?.stringValue == (try sc.s.host.link("ivm0")?["address"]?.stringValue))
        #expect(sc.reservations("iv") == ["10.64.0.2"])
        #expect(try sc.run("CHECK", conf).status == 0)
        let del = try sc.run("DEL", conf)
        #expect(del.status == 0, "\(del.stdout)")
        #expect(sc.podLinks == ["lo"] && sc.reservations("iv").isEmpty && sc.reservations("cluster").isEmpty)
    }
}
