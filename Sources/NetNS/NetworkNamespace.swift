import CNI
import CLinux
import Glibc
import LinuxSystem

/// Why a namespace path cannot be used.
public enum NetNSError: Error, Sendable, CustomStringConvertible {
    /// The path does not exist (a DEL treats this as "already gone").
    case notFound(String)
    /// The path exists but is not a network namespace.
    case notANamespace(String)
    case system(SystemError)

    public var description: String {
        switch self {
        case .notFound(let p): return "failed to open netns \"\(p)\": no such file or directory"
        case .notANamespace(let p): return "\"\(p)\" is not a valid network namespace"
        case .system(let e): return e.description
        }
    }
}

extension NetNSError: CNIErrorConvertible {
    /// A path that is not a usable namespace is the runtime's mistake (code 4, as the skeleton
    /// reports bad CNI_NETNS); a failed system call is 101.
    public var cniError: CNIError {
        switch self {
        case .notFound, .notANamespace: return CNIError(.invalidEnvironment, description)
        case .system(let e): return e.cniError
        }
    }
}

/// An open network namespace. Work runs inside it on the calling thread, which is switched
/// there and back (`run`); plugins are synchronous, so no other work shares the thread meanwhile.
public final class NetworkNamespace: @unchecked Sendable {
    public let path: String
    public let fd: Int32

    static let nsfsMagic: Int = 0x6e73_6673
    static let procMagic: Int = 0x9fa0

    /// Opens and checks a namespace path (a bind mount under /var/run/netns, or /proc/<pid>/ns/net).
    public init(path: String) throws(NetNSError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { throw .notFound(path) }
            throw .system(SystemError("open", subject: path))
        }
        let magic = csystem_fs_magic(fd)
        guard magic != -1 else {
            let e = SystemError("statfs", subject: path)
            close(fd)
            throw .system(e)
        }
        guard magic == Self.nsfsMagic || magic == Self.procMagic else {
            close(fd)
            throw .notANamespace(path)
        }
        self.path = path
        self.fd = fd
    }

    /// For DEL: the namespace at `path`, or nil when it is gone — no such path, or a leftover
    /// file where it was mounted (nothing can be inside something that is not a namespace).
    public static func ifPresent(path: String) throws(NetNSError) -> NetworkNamespace? {
        do {
            return try NetworkNamespace(path: path)
        } catch .notFound, .notANamespace {
            return nil
        } catch {
            throw error
        }
    }

    /// The calling thread's current namespace.
    public static func current() throws(NetNSError) -> NetworkNamespace {
        try NetworkNamespace(path: "/proc/thread-self/ns/net")
    }

    /// A new, empty network namespace that lives while this object does (not mounted anywhere;
    /// host-device uses one to rename a link away from udev and NetworkManager).
    public static func temporary() throws(NetNSError) -> NetworkNamespace {
        let origin = try current()
        guard csystem_unshare_net() == 0 else { throw .system(SystemError("unshare", subject: "CLONE_NEWNET")) }
        let created: NetworkNamespace
        do { created = try current() } catch {
            _ = csystem_setns_net(origin.fd)
            throw error
        }
        guard csystem_setns_net(origin.fd) == 0 else {
            let msg = "fatal: cannot return from a temporary network namespace\n"
            _ = msg.withCString { write(2, $0, strlen($0)) }
            _exit(70)
        }
        return created
    }

    deinit { close(fd) }

    /// (device, inode) identity: two descriptors of one namespace compare equal.
    public var identity: (UInt64, UInt64) {
        var st = stat()
        fstat(fd, &st)
        return (UInt64(st.st_dev), UInt64(st.st_ino))
    }

    public func isSame(as other: NetworkNamespace) -> Bool { identity == other.identity }

    /// Runs `body` with the calling thread in this namespace, then switches back. If switching
    /// back fails the process exits: a thread stranded in a pod namespace must not go on.
    public func run<T>(_ body: () throws -> T) throws -> T {
        let origin = try NetworkNamespace.current()
        guard csystem_setns_net(fd) == 0 else { throw NetNSError.system(SystemError("setns", subject: path)) }
        defer {
            if csystem_setns_net(origin.fd) != 0 {
                let msg = "fatal: cannot return from network namespace \(path): \(SystemError("setns"))\n"
                _ = msg.withCString { write(2, $0, strlen($0)) }
                _exit(70)
            }
        }
        return try body()
    }
}
