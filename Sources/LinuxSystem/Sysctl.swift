import Basics

/// /proc/sys reads and writes. /proc/sys/net shows the network namespace of the calling thread,
/// so call these inside `NetworkNamespace.run` for a pod's settings.
public enum Sysctl {
    /// "net.ipv4.conf.eth0.arp_notify" or "net/ipv4/conf/eth0/arp_notify".
    public static func set(_ key: String, _ value: String) throws(SystemError) {
        try FileSystem.writeExisting(path(key), Array(value.utf8))
    }

    public static func get(_ key: String) throws(SystemError) -> String {
        String(decoding: try FileSystem.read(path(key)), as: UTF8.self).trimmingWhitespace
    }

    /// Keys already with '/' stay as they are (interface names may hold dots).
    static func path(_ key: String) -> String {
        "/proc/sys/" + (key.contains("/") ? key : key.split(separator: ".").joined(separator: "/"))
    }
}
