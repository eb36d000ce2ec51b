import CNI
import Glibc
import LinuxSystem

/// The per-pod executable `swift-cni` leaves out what only some configs need — the Kubernetes and
/// etcd clients (NIO, swift-nio-ssl, libyaml) and the daemons' command lines — so that every
/// other plugin run starts as a small static binary. A config or command that needs them is
/// handed over, before anything is done, to `swift-cni-full` installed beside it: the same
/// plugins with everything, run with the same arguments, environment and stdin.
public enum Handoff {
    public static let fullExecutable = "swift-cni-full"

    /// `swift-cni-full` beside this process's executable.
    public static func fullPath() throws(CNIError) -> String {
        let dir: String
        do { dir = try Exec.ownDirectory() } catch { throw CNIError(.systemFailure, "cannot find this plugin's directory", details: error.description) }
        return dir + "/" + fullExecutable
    }

    /// Runs the invocation again in `swift-cni-full` (argv, environment and the given stdin
    /// bytes); returns only by throwing, with `why` saying what needed it.
    public static func toFull(stdin: [UInt8]?, why: String) throws(CNIError) -> Never {
        let path = try fullPath()
        guard FileSystem.exists(path) else {
            throw CNIError(.systemFailure, "\(why) needs \(fullExecutable), which is not installed beside this plugin",
                           details: "install \(path) (the swift-cni package ships both)")
        }
        do { try Exec.replace(with: path, arguments: CommandLine.arguments, stdin: stdin) } catch {
            throw CNIError(.systemFailure, "cannot run \(path) for \(why)", details: error.description)
        }
    }
}

extension Handoff {
    /// A command line (`dhcp daemon`, `whereabouts reconcile`) run by `swift-cni-full` with this
    /// process's arguments and stdin; on failure the reason on stderr, exit status 1.
    public static func command(_ what: String) -> Never {
        do { try toFull(stdin: nil, why: what) } catch {
            FileSystem.writeStderr("\(error.msg)\(error.details.isEmpty ? "" : ": " + error.details)\n")
            exit(1)
        }
    }
}
