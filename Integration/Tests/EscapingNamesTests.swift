import CNI
import Foundation
import Testing
import TestSupport

/// Names that would escape a plugin's directory (issue #18, item 5): network names, container
/// IDs, ifnames and data directories with "..", "/", NUL or more than a file name can hold are
/// refused with a coded error before anything is written — host-local's store, whereabouts' file
/// store, multus's cache, dhcp's lease store (the plugin refuses before reaching the daemon). A
/// canary next to the data directory never changes and nothing appears beside it.
@Suite struct EscapingNamesTests {
    enum Plugin: String, CaseIterable, Sendable { case hostLocal = "host-local", whereabouts, multus, dhcp }

    static let badNetworkNames = ["../escape", "a/b", "a\\u0000b", ".hidden", ".."]
    static let badContainerIDs = ["../escape", "a/b", ".x", "a b"]
    static let badIfNames = ["../escape", "a/b", "..", String(repeating: "i", count: 16), "a:b"]

    func conf(_ plugin: Plugin, name: String, dir: String, dataDir: String? = nil) -> String {
        let data = dataDir ?? dir + "/data"
        switch plugin {
        case .hostLocal:
            return #"{"cniVersion":"1.0.0","name":"\#(name)","type":"host-local","ipam":{"type":"host-local","subnet":"10.66.0.0/24","dataDir":"\#(data)"}}"#
        case .whereabouts:
            return #"{"cniVersion":"1.0.0","name":"\#(name)","type":"whereabouts","ipam":{"type":"whereabouts","range":"10.66.0.0/24","dataDir":"\#(data)"}}"#
        case .multus:
            return #"{"cniVersion":"1.0.0","name":"\#(name)","type":"multus","cniDir":"\#(data)","binDir":"\#(BuildProducts.directory)","delegates":[{"cniVersion":"1.0.0","name":"d","type":"host-local","ipam":{"type":"host-local","subnet":"10.67.0.0/24","dataDir":"\#(dir)/data2"}}]}"#
        case .dhcp:
            return #"{"cniVersion":"1.0.0","name":"\#(name)","type":"dhcp","ipam":{"type":"dhcp","daemonSocketPath":"\#(data)/dhcp.sock"}}"#
        }
    }

    func run(_ plugin: Plugin, _ command: String, conf: String, containerID: String = "ctr1", ifName: String = "net1") throws -> TestSupport.Command {
        try Command.run([BuildProducts.path(plugin.rawValue)],
                        env: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": command, "CNI_CONTAINERID": containerID,
                              "CNI_NETNS": "/var/run/netns/swcni-none", "CNI_IFNAME": ifName, "CNI_PATH": BuildProducts.directory,
                              "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p"],
                        stdin: conf)
    }

    /// Refused with a spec or project code (never 999), for ADD and for DEL.
    func expectRefused(_ plugin: Plugin, conf: String, containerID: String = "ctr1", ifName: String = "net1",
                       _ what: String) throws {
        for command in ["ADD", "DEL"] {
            let out = try run(plugin, command, conf: conf, containerID: containerID, ifName: ifName)
            let code = out.json?["code"]?.intValue
            #expect(out.status != 0 && code != nil && code != 999 && code != 11, "\(plugin.rawValue) \(command) \(what): \(out.stdout)")
        }
    }

    @Test(arguments: Plugin.allCases)
    func refusedBeforeAnythingIsWritten(plugin: Plugin) throws {
        let top = try TemporaryDirectory("swcni-escape")
        defer { top.remove() }
        let dir = top.file("inner")
        try FileManager.default.createDirectory(atPath: dir + "/data", withIntermediateDirectories: true)
        try "canary\n".write(toFile: top.file("canary"), atomically: true, encoding: .utf8)

        for name in Self.badNetworkNames {
            try expectRefused(plugin, conf: conf(plugin, name: name, dir: dir), "network name \(name.prefix(20))")
        }
        // Longer than a file name can be, where the name becomes one: host-local's network
        // directory, multus's cache file (named by the container ID).
        if plugin == .hostLocal {
            try expectRefused(plugin, conf: conf(plugin, name: String(repeating: "n", count: 300), dir: dir), "a 300-byte network name")
        }
        if plugin == .multus {
            try expectRefused(plugin, conf: conf(plugin, name: "net", dir: dir), containerID: String(repeating: "c", count: 300),
                              "a 300-byte container ID")
        }
        for id in Self.badContainerIDs {
            try expectRefused(plugin, conf: conf(plugin, name: "net", dir: dir), containerID: id, "container ID \(id)")
        }
        for ifName in Self.badIfNames {
            try expectRefused(plugin, conf: conf(plugin, name: "net", dir: dir), ifName: ifName, "ifname \(ifName)")
        }
        if plugin != .dhcp {
            try expectRefused(plugin, conf: conf(plugin, name: "net", dir: dir, dataDir: dir + "/data/../../escape"), "dataDir with ..")
        }

        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/data").isEmpty)
        #expect(!FileManager.default.fileExists(atPath: dir + "/data2"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: top.path).sorted() == ["canary", "inner"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["data"])
        #expect(try String(contentsOfFile: top.file("canary"), encoding: .utf8) == "canary\n")
    }
}
