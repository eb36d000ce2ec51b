import DHCPIPAM
import Basics
import CNI
import DHCP
import LinuxSystem

/// What the daemon keeps of one attachment so that a restarted daemon resumes it: who it is,
/// the request's config (request/provide lists), and the lease (the ACK's bytes and their time).
struct LeaseRecord: Sendable, Equatable {
    var request: DaemonRequest.Identity
    var config: JSONValue
    var args: String
    var lease: DHCPLease

    var json: JSONValue {
        ["containerID": .string(request.containerID), "network": .string(request.network), "ifName": .string(request.ifName),
         "netns": .string(request.netns), "args": .string(args), "config": config,
         "ack": .string(Base64.encode(lease.ack.encode())), "acquired": .number(String(lease.acquired))]
    }

    init(request: DaemonRequest.Identity, config: JSONValue, args: String, lease: DHCPLease) {
        (self.request, self.config, self.args, self.lease) = (request, config, args, lease)
    }

    init?(json: JSONValue) {
        guard let cid = json["containerID"]?.stringValue, let net = json["network"]?.stringValue,
              let ifName = json["ifName"]?.stringValue, let netns = json["netns"]?.stringValue,
              let ackText = json["ack"]?.stringValue, let bytes = Base64.decode(ackText), let ack = DHCPMessage(decoding: bytes),
              case .number(let t)? = json["acquired"], let acquired = Double(t), let config = json["config"],
              let lease = try? DHCPLease(ack: ack, acquired: acquired) else { return nil }
        request = DaemonRequest.Identity(containerID: cid, network: net, ifName: ifName, netns: netns)
        (self.config, self.args, self.lease) = (config, json["args"]?.stringValue ?? "", lease)
    }

    static func == (a: LeaseRecord, b: LeaseRecord) -> Bool { a.json == b.json }
}

/// One file per attachment under the state directory (0700), written atomically and fsynced;
/// named by a hash of the attachment, so no container ID or ifname can reach outside it.
struct LeaseStore: Sendable {
    let directory: String

    init(directory: String) throws(SystemError) {
        self.directory = directory
        try FileSystem.makeDirectories(directory, mode: 0o700)
    }

    func path(_ id: DaemonRequest.Identity) -> String {
        directory + "/" + String(SHA512.hex(id.clientID).prefix(40)) + ".lease"
    }

    func save(_ r: LeaseRecord) throws(SystemError) {
        try FileSystem.writeAtomically(path(r.request), r.json.serialized() + [10], mode: 0o600)
    }

    func remove(_ id: DaemonRequest.Identity) {
        try? FileSystem.remove(path(id))
    }

    /// Every readable record; unreadable files are left where they are for a human to see.
    func all() -> [LeaseRecord] {
        ((try? FileSystem.list(directory)) ?? []).filter { $0.hasSuffix(".lease") }.compactMap { name in
            guard let bytes = try? FileSystem.read(directory + "/" + name), let json = try? JSONValue.parse(bytes) else { return nil }
            return LeaseRecord(json: json)
        }
    }
}
