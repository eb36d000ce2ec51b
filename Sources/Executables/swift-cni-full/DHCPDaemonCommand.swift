import Basics
import DHCPDaemon
import Glibc
import LinuxSystem
import Logging

/// `dhcp daemon [flags]`: the lease clients (DHCPDaemon.invocation reads the flags).
enum DaemonCommand {
    static func run(_ arguments: [String]) -> Never {
        let invocation: DHCPDaemon.Invocation
        do {
            invocation = try DHCPDaemon.invocation(arguments)
        } catch {
            FileSystem.writeStderr(error.message + "\n" + DHCPDaemon.flags.usage)
            exit(2)
        }
        switch invocation {
        case .help(let usage):
            try? FileSystem.writeAll(fd: 1, Array(usage.utf8))
            exit(0)
        case .version:
            try? FileSystem.writeAll(fd: 1, Array((SwiftCNI.version + "\n").utf8))
            exit(0)
        case .run(let options, let level):
            LoggingSystem.bootstrap { label in
                var h = StreamLogHandler.standardError(label: label)
                h.logLevel = level
                return h
            }
            do {
                let daemon = try DHCPDaemon(options: options, logger: Logger(label: "swift-cni.dhcp"))
                let (fd, created) = try daemon.listen(environment: ProcessEnvironment.current())
                daemon.serve(fd: fd, created: created)
            } catch {
                FileSystem.writeStderr("dhcp daemon: \(error)\n")
                exit(1)
            }
        }
    }
}
