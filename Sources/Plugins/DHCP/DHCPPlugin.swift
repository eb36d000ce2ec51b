import CNI
import Glibc
import LinuxSystem
import PluginKit

/// The dhcp IPAM plugin as the runtime execs it: every verb is forwarded to the daemon (`dhcp
/// daemon`), which holds the leases and renews them. The config is checked here first, so bad
/// input is refused without a daemon.
public struct DHCPPlugin: Plugin {
    public let about = "swift-cni dhcp: IP addresses from a DHCP server, leases kept by `dhcp daemon`"

    public init() {}

    public func add(_ r: PluginRequest) throws -> CNIResult {
        let config = try DHCPConfig(r.config, args: CNIArgs(parsing: r.rawArgs))
        switch try send(r, config) {
        case .result(let json): return try CNIResult(json: json, version: DaemonSocket.resultVersion)
        case .done: throw CNIError(.decodingFailure, "dhcp: the daemon answered ADD without a result")
        case .failure(let e): throw e
        }
    }

    /// Releases the lease. A daemon that cannot be reached is an error (code 11): the lease
    /// would otherwise be renewed for a pod that is gone; the runtime retries the DEL.
    public func del(_ r: PluginRequest) throws {
        let config = try DHCPConfig(r.config, args: CNIArgs(parsing: r.rawArgs))
        if case .failure(let e) = try send(r, config) { throw e }
    }

    public func check(_ r: PluginRequest) throws {
        let config = try DHCPConfig(r.config, args: CNIArgs(parsing: r.rawArgs))
        if case .failure(let e) = try send(r, config) { throw e }
    }

    /// Ready when the daemon answers.
    public func status(_ r: PluginRequest) throws {
        let config: DHCPConfig
        do { config = try DHCPConfig(r.config, args: CNIArgs()) } catch {
            throw CNIError(.unavailable, "dhcp: invalid configuration", details: error.description)
        }
        do {
            if case .failure(let e) = try send(r, config) { throw e }
        } catch let e as CNIError where e.code == CNIError.Code.tryAgainLater.rawValue {
            throw CNIError(.unavailable, e.msg, details: e.details)
        }
    }

    /// Releases this network's leases whose attachment is not in `cni.dev/valid-attachments`.
    public func gc(_ r: PluginRequest) throws {
        let config = try DHCPConfig(r.config, args: CNIArgs())
        _ = try r.config.validAttachments()
        if case .failure(let e) = try send(r, config) { throw e }
    }

    func send(_ r: PluginRequest, _ config: DHCPConfig) throws(CNIError) -> DaemonReply {
        // The daemon enters the namespace by path from its own mount namespace: make it absolute.
        let netns = r.netns.isEmpty || r.netns.hasPrefix("/") ? r.netns : FileSystem.absolutePath(r.netns)
        let request = DaemonRequest(command: r.command, containerID: r.containerID, netns: netns, ifName: r.ifName,
                                    args: r.rawArgs, config: .object(r.config.raw))
        let bytes: [UInt8]
        do {
            bytes = try DaemonSocket.exchange(path: config.socketPath, request.json.serialized())
        } catch {
            throw CNIError(.tryAgainLater, "dhcp: no DHCP daemon at \(config.socketPath)",
                           details: "\(error); start it with `dhcp daemon` (or enable the swift-cni-dhcp.socket unit)")
        }
        let json: JSONValue
        do { json = try JSONValue.parse(bytes) } catch {
            throw CNIError(.decodingFailure, "dhcp: the daemon's reply is not JSON", details: "\(error)")
        }
        return try DaemonReply(json: json)
    }
}
