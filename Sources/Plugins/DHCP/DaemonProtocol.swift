import CNI
import Glibc
import LinuxSystem

/// What the plugin asks the daemon: the verb and the invocation, the config as the runtime gave
/// it. One request per connection: the plugin writes it, shuts its side down, reads the reply.
/// (Ours, not the reference's Go net/rpc: the two daemons are not mixed.)
public struct DaemonRequest: Sendable {
    public var command: Command
    public var containerID: String
    public var netns: String
    public var ifName: String
    public var args: String
    public var config: JSONValue

    public init(command: Command, containerID: String, netns: String, ifName: String, args: String, config: JSONValue) {
        (self.command, self.containerID, self.netns, self.ifName, self.args, self.config) = (command, containerID, netns, ifName, args, config)
    }

    public var json: JSONValue {
        ["command": .string(command.rawValue), "containerID": .string(containerID), "netns": .string(netns),
         "ifName": .string(ifName), "args": .string(args), "config": config]
    }

    public init(json: JSONValue) throws(CNIError) {
        let r = JSONReader(json, path: "request", code: .decodingFailure)
        try r.requireObject()
        guard let c = Command(rawValue: try r.requiredString("command")) else { throw r.fail("command", "unknown") }
        command = c
        containerID = try r.string("containerID") ?? ""
        netns = try r.string("netns") ?? ""
        ifName = try r.string("ifName") ?? ""
        args = try r.string("args") ?? ""
        config = r.raw("config") ?? .null
    }
}

/// The daemon's answer: a result (in the request's CNI version) or a CNI error.
public enum DaemonReply: Sendable {
    case result(JSONValue)
    case done
    case failure(CNIError)

    public var json: JSONValue {
        switch self {
        case .result(let r): return ["result": r]
        case .done: return ["ok": true]
        case .failure(let e):
            return ["error": ["code": .int(e.code), "msg": .string(e.msg), "details": .string(e.details)]]
        }
    }

    public init(json: JSONValue) throws(CNIError) {
        if let r = json["result"] { self = .result(r); return }
        if json["ok"] == true { self = .done; return }
        if let e = json["error"], let code = e["code"]?.intValue {
            self = .failure(CNIError(code: code, msg: e["msg"]?.stringValue ?? "", details: e["details"]?.stringValue ?? ""))
            return
        }
        throw CNIError(.decodingFailure, "dhcp: the daemon's reply is not understood")
    }
}

/// A unix stream socket to the daemon.
public enum DaemonSocket {
    /// Results cross the socket in this version; the plugin prints them in the config's.
    public static let resultVersion = CNIVersion.v1_1_0

    /// Sends one request and returns the reply's bytes. Throws SystemError (connect: ENOENT or
    /// ECONNREFUSED when no daemon listens).
    /// `timeout` bounds the wait for the reply (a probe); none by default: the daemon bounds ADD.
    public static func exchange(path: String, _ request: [UInt8], timeout: Int? = nil) throws(SystemError) -> [UInt8] {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket") }
        defer { close(fd) }
        if let timeout {
            var tv = timeval(tv_sec: timeout, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        }
        var addr = try address(path)
        try retryingEINTR("connect", subject: path) {
            withUnsafePointer(to: &addr) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
        }
        try FileSystem.writeAll(fd: fd, request, subject: path)
        shutdown(fd, Int32(SHUT_WR))
        return try FileSystem.readAll(fd: fd, subject: path)
    }

    public static func address(_ path: String) throws(SystemError) -> sockaddr_un {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            throw SystemError("socket path", errno: ENAMETOOLONG, subject: path)
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        return addr
    }
}

extension DaemonRequest {
    /// The attachment a lease belongs to, as the reference keys it: `<containerID>/<network>/<ifname>`
    /// is also the DHCP client identifier.
    public struct Identity: Sendable, Hashable {
        public var containerID: String
        public var network: String
        public var ifName: String
        /// The namespace path as the runtime gave it (without the daemon's host prefix).
        public var netns: String

        public var clientID: String { "\(containerID)/\(network)/\(ifName)" }

        public init(containerID: String, network: String, ifName: String, netns: String) {
            (self.containerID, self.network, self.ifName, self.netns) = (containerID, network, ifName, netns)
        }

        public static func == (a: Identity, b: Identity) -> Bool { a.clientID == b.clientID }
        public func hash(into h: inout Hasher) { h.combine(clientID) }
    }
}
