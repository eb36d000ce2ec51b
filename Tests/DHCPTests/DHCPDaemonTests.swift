import CNI
import DHCP
@testable import DHCPDaemon
@testable import DHCPIPAM
import Foundation
import Glibc
import IPAddressing
import LinuxSystem
import Logging
import PluginKit
import Testing
import TestSupport

@Suite struct DHCPConfigTests {
    func conf(_ ipam: String) throws -> NetConf {
        try NetConf(bytes: Array(#"{"cniVersion":"1.0.0","name":"n","type":"macvlan","ipam":\#(ipam)}"#.utf8))
    }

    @Test func defaultsAsTheReference() throws {
        let c = try DHCPConfig(conf(#"{"type":"dhcp"}"#), args: CNIArgs())
        #expect(c.socketPath == "/run/cni/dhcp.sock" && c.priority == 0)
        #expect(c.parameterRequestList == [3, 1] && c.provided.isEmpty && c.hostName == nil)
    }

    @Test func requestProvideAndPriority() throws {
        let c = try DHCPConfig(conf(#"""
            {"type":"dhcp","daemonSocketPath":"/tmp/x.sock","priority":7,
             "request":[{"option":"classless-static-routes"},{"option":"42"},{"option":6},{"option":"routers"}],
             "provide":[{"option":"host-name","fromArg":"K8S_POD_NAME"},{"option":"user-class","value":"blue"},
                        {"option":"60","fromArg":"MISSING"}]}
            """#), args: CNIArgs(parsing: "IgnoreUnknown=1;K8S_POD_NAME=web-0"))
        #expect(c.socketPath == "/tmp/x.sock" && c.priority == 7)
        #expect(c.parameterRequestList == [3, 1, 121, 42, 6])
        #expect(c.provided.map(\.code) == [12, 77] && c.provided.map(\.value) == [Array("web-0".utf8), Array("blue".utf8)])
        #expect(c.hostName == "web-0")
        let skip = try DHCPConfig(conf(#"{"type":"dhcp","request":[{"skipDefault":true},{"option":"subnet-mask"}]}"#), args: CNIArgs())
        #expect(skip.parameterRequestList == [1])
        // fromArg falls back to args.cni.
        let fromArgs = try DHCPConfig(try NetConf(bytes: Array(#"{"cniVersion":"1.0.0","name":"n","type":"macvlan","args":{"cni":{"RACK":"r7"}},"ipam":{"type":"dhcp","provide":[{"option":"user-class","fromArg":"RACK"}]}}"#.utf8)),
                                      args: CNIArgs())
        #expect(fromArgs.provided.map(\.value) == [Array("r7".utf8)])
    }

    @Test(arguments: [
        #"{"type":"dhcp","request":[{"option":"no-such-option"}]}"#,
        #"{"type":"dhcp","request":[{"option":"255"}]}"#,
        #"{"type":"dhcp","request":[{"option":true}]}"#,
        #"{"type":"dhcp","request":"routers"}"#,
        #"{"type":"dhcp","provide":[{"value":"x"}]}"#,
        #"{"type":"dhcp","priority":-1}"#,
        #"{"type":"dhcp","priority":"high"}"#,
    ])
    func badConfigsAreCode7(ipam: String) throws {
        #expect(throws: CNIError.self) { try DHCPConfig(conf(ipam), args: CNIArgs()) }
        do { _ = try DHCPConfig(conf(ipam), args: CNIArgs()) } catch let e as CNIError { #expect(e.code == 7) } catch { Issue.record("\(error)") }
    }

    @Test func aProvidedValueOver255BytesIsRefused() throws {
        let long = String(repeating: "v", count: 256)
        #expect(throws: CNIError.self) {
            try DHCPConfig(conf(#"{"type":"dhcp","provide":[{"option":"user-class","value":"\#(long)"}]}"#), args: CNIArgs())
        }
    }
}

/// The daemon's request handling and the plugin talking to it over a real unix socket, without
/// root: what needs no namespace (refusals, unknown leases, the socket's permissions).
@Suite struct DHCPDaemonTests {
    final class Running: @unchecked Sendable {
        let dir: TemporaryDirectory
        let daemon: DHCPDaemon
        let fd: Int32
        var socket: String { dir.file("run/dhcp.sock") }

        init(hostPrefix: String = "") throws {
            dir = try TemporaryDirectory("swcni-dhcpd")
            var o = DHCPDaemon.Options()
            o.socketPath = dir.file("run/dhcp.sock")
            o.stateDirectory = dir.file("state")
            o.hostPrefix = hostPrefix
            o.timing.acquireTimeout = 1
            daemon = try DHCPDaemon(options: o, logger: quiet)
            fd = try daemon.listen(environment: [:]).fd
            let (d, l) = (daemon, fd)
            let t = Thread { d.acceptLoop(l) }
            t.start()
        }

        deinit {
            shutdown(fd, Int32(SHUT_RDWR))
            close(fd)
            dir.remove()
        }

        func call(_ command: String, ipam extra: String = "", netns: String = "/var/run/netns/none", containerID: String = "c1",
                  top: String = "") -> Skeleton.Output {
            let conf = #"{"cniVersion":"1.1.0","name":"dnet","type":"dhcp"\#(top),"ipam":{"type":"dhcp","daemonSocketPath":"\#(socket)"\#(extra)}}"#
            return PluginCall(command, config: conf, containerID: containerID, ifName: "net1", netns: netns).run(DHCPPlugin())
        }
    }

    @Test func theSocketIsRootOnlyAndASecondDaemonIsRefused() throws {
        let r = try Running()
        #expect(try FileSystem.mode(r.socket) & 0o777 == 0o600)
        #expect(try FileSystem.mode(r.dir.file("run")) & 0o777 == 0o700)
        #expect(try FileSystem.mode(r.dir.file("state")) & 0o777 == 0o700)
        var o = DHCPDaemon.Options()
        (o.socketPath, o.stateDirectory) = (r.socket, r.dir.file("state2"))
        let second = try DHCPDaemon(options: o, logger: quiet)
        #expect(throws: SystemError.self) { try second.listen(environment: [:]) }
        #expect(r.call("STATUS").exitCode == 0)                    // the first one still answers
    }

    @Test func aStaleSocketFileIsReplaced() throws {
        let dir = try TemporaryDirectory("swcni-dhcpd")
        defer { dir.remove() }
        try FileSystem.makeDirectories(dir.file("run"), mode: 0o700)
        let stale = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = try DaemonSocket.address(dir.file("run/dhcp.sock"))
        _ = withUnsafePointer(to: &addr) { p in p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(stale, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        close(stale)                                               // bound, never listening: a dead daemon's file
        var o = DHCPDaemon.Options()
        (o.socketPath, o.stateDirectory) = (dir.file("run/dhcp.sock"), dir.file("state"))
        let d = try DHCPDaemon(options: o, logger: quiet)
        let (fd, created) = try d.listen(environment: [:])
        #expect(created)
        close(fd)
    }

    @Test func systemdsSocketIsTakenWhenPassed() throws {
        let dir = try TemporaryDirectory("swcni-dhcpd")
        defer { dir.remove() }
        var o = DHCPDaemon.Options()
        (o.socketPath, o.stateDirectory) = (dir.file("never.sock"), dir.file("state"))
        let d = try DHCPDaemon(options: o, logger: quiet)
        let (fd, created) = try d.listen(environment: ["LISTEN_PID": String(getpid()), "LISTEN_FDS": "1"])
        #expect(fd == 3 && !created && !FileSystem.exists(dir.file("never.sock")))
        // Someone else's LISTEN_PID: not ours to take.
        let (fd2, created2) = try d.listen(environment: ["LISTEN_PID": "1", "LISTEN_FDS": "1"])
        #expect(fd2 != 3 && created2)
        close(fd2)
    }

    @Test func withoutADaemonADDIsCode11AndSTATUSIs50() throws {
        let dir = try TemporaryDirectory("swcni-dhcpd")
        defer { dir.remove() }
        let conf = #"{"cniVersion":"1.1.0","name":"dnet","type":"dhcp","ipam":{"type":"dhcp","daemonSocketPath":"\#(dir.file("none.sock"))"}}"#
        let add = PluginCall("ADD", config: conf).run(DHCPPlugin())
        #expect(add.errorCode == 11)
        #expect(add.message.contains("no DHCP daemon at"))
        #expect(add.json?["details"]?.stringValue?.contains("dhcp daemon") == true)
        #expect(PluginCall("STATUS", config: conf).run(DHCPPlugin()).errorCode == 50)
        #expect(PluginCall("DEL", config: conf).run(DHCPPlugin()).errorCode == 11)
    }

    @Test func unknownLeasesAndRefusedNamespaces() throws {
        let r = try Running(hostPrefix: "/hostroot")
        #expect(r.call("DEL").exitCode == 0)                                      // nothing held: success
        #expect(r.call("DEL", netns: "").exitCode == 0)                           // containerd's empty CNI_NETNS
        #expect(r.call("CHECK").errorCode == 11)                                  // no lease to check
        #expect(r.call("STATUS").exitCode == 0)
        let escape = r.call("ADD", netns: "/var/run/netns/../../etc")
        #expect(escape.errorCode == 4 && escape.message.contains(".."))
        #expect(try r.daemon.namespacePath("/proc/12/ns/net") == "/hostroot/proc/12/ns/net")
        #expect(try r.daemon.namespacePath("//var//run/netns/x") == "/hostroot/var/run/netns/x")
        // A namespace that does not exist: the client cannot reach the link, ADD fails, nothing kept.
        let missing = r.call("ADD", netns: "/var/run/netns/swcni-no-such-ns")
        #expect(missing.errorCode == 11 && missing.json?["details"]?.stringValue?.contains("swcni-no-such-ns") == true)
        #expect(try FileSystem.list(r.dir.file("state")).isEmpty)
        #expect(r.call("GC").errorCode == 7)                                      // GC needs the valid attachments
        #expect(r.call("GC", top: #","cni.dev/valid-attachments":[]"#).exitCode == 0)
        #expect(r.call("ADD", ipam: #","request":[{"option":"bogus"}]"#).errorCode == 7)   // refused before the daemon
    }

    @Test func aSavedLeaseRoundTripsThroughItsFile() throws {
        let dir = try TemporaryDirectory("swcni-dhcpd")
        defer { dir.remove() }
        let store = try LeaseStore(directory: dir.file("state"))
        var ack = DHCPMessage(op: .reply, xid: 3, chaddr: [2, 0, 0, 0, 0, 9], options: [(53, [5]), (1, [255, 255, 255, 0]), (54, [10, 0, 0, 1])])
        ack.yiaddr = IPAddress("10.0.0.9")!
        let id = DaemonRequest.Identity(containerID: "../../etc/passwd", network: "n/../x", ifName: "net1", netns: "/proc/1/ns/net")
        let record = LeaseRecord(request: id, config: ["name": "n", "ipam": ["type": "dhcp"]], args: "K8S_POD_NAME=a",
                                 lease: try DHCPLease(ack: ack, acquired: 1234.5))
        try store.save(record)
        let files = try FileSystem.list(dir.file("state"))
        #expect(files.count == 1 && files[0].hasSuffix(".lease") && !files[0].contains("/") && !files[0].contains(".."))
        #expect(try FileSystem.mode(dir.file("state/" + files[0])) & 0o777 == 0o600)
        #expect(store.all() == [record])
        #expect(store.all().first?.lease.address.description == "10.0.0.9/24")
        store.remove(id)
        #expect(store.all().isEmpty)
    }
}

/// The daemon's logs in these tests go nowhere.
let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

@Suite struct DHCPConfExampleTests {
    @Test func theExampleInConfReadsAsWritten() throws {
        let path = #filePath.split(separator: "/").dropLast(3).joined(separator: "/")
        let bytes = try FileSystem.read("/" + path + "/Conf/dhcp.conf")
        let c = try DHCPConfig(try NetConf(bytes: bytes), args: CNIArgs(parsing: "IgnoreUnknown=1;K8S_POD_NAME=web-1"))
        #expect(c.parameterRequestList == [3, 1, 121, 6] && c.priority == 100)
        #expect(c.provided.map(\.code) == [12, 77] && c.provided.first?.value == Array("web-1".utf8))
    }
}
