import CNI
import LinuxSystem

/// /proc/sys writes. /proc/sys/net shows the network namespace of the calling thread, so call
/// these inside `NetworkNamespace.run` for a pod's settings.
public enum Sysctl {
    public static func set(_ key: String, _ value: String) throws(CNIError) {
        let path = "/proc/sys/" + key.replacingDots()
        do { try FileSystem.writeExisting(path, Array(value.utf8)) } catch {
            throw CNIError(.systemFailure, "failed to set \(key) = \(value)", details: error.description)
        }
    }

    public static func get(_ key: String) throws(CNIError) -> String {
        do { return String(decoding: try FileSystem.read("/proc/sys/" + key.replacingDots()), as: UTF8.self).trimmingWhitespace } catch {
            throw CNIError(.systemFailure, "failed to read \(key)", details: error.description)
        }
    }
}

extension String {
    /// "net.ipv4.conf.eth0.arp_notify" → "net/ipv4/conf/eth0/arp_notify"; keys already with '/' stay.
    func replacingDots() -> String { contains("/") ? self : split(separator: ".").joined(separator: "/") }
}
