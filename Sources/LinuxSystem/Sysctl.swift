import Basics
import Glibc

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

    /// A /proc/sys directory opened once (at its first use) for several keys under it. Every
    /// network namespace has its own /proc/sys/net under that one name, so a lookup through it
    /// compares an entry per namespace on the host (0.3–0.5 ms per key with 200–300 namespaces
    /// here); a key under an open directory skips that walk. The directory is the namespace's of the
    /// thread that first uses it: use it from that namespace only.
    public final class Directory {
        let path: String
        private var fd: Int32 = -1

        /// "net/ipv6/conf".
        public init(_ key: String) { path = Sysctl.path(key) }
        deinit { if fd >= 0 { close(fd) } }

        /// `key` relative to the directory: "eth0/accept_ra".
        public func set(_ key: String, _ value: String) throws(SystemError) {
            let dirPath = path
            if fd < 0 { fd = try retryingEINTR("open", subject: dirPath) { open(dirPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC) } }
            let dir = fd
            let f = try retryingEINTR("open", subject: dirPath + "/" + key) { openat(dir, key, O_WRONLY | O_CLOEXEC) }
            defer { close(f) }
            try FileSystem.writeAll(fd: f, Array(value.utf8), subject: dirPath + "/" + key)
        }
    }
}
