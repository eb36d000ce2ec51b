import Basics
import CNI
import LinuxSystem

/// Runs another plugin (a delegate, or a chain member for the runtime) and interprets its answer.
public protocol PluginInvoker: Sendable {
    /// Runs plugin `type` found in `paths` with exactly `environment` and `stdin`. Returns its stdout
    /// on success; throws the plugin's own CNIError when it printed one.
    func invoke(type: String, paths: [String], environment: [String: String], stdin: [UInt8]) throws(CNIError) -> [UInt8]
}

/// The real thing: find in CNI_PATH, exec (retrying ETXTBSY), stderr passed through to ours.
public struct ExecPluginInvoker: PluginInvoker {
    public init() {}

    public func invoke(type: String, paths: [String], environment: [String: String],
                       stdin: [UInt8]) throws(CNIError) -> [UInt8] {
        let path: String
        do { path = try PluginLocator.find(type, in: paths) } catch {
            throw CNIError(.delegateFailure, error.description)
        }
        let out: Subprocess.Output
        do {
            out = try Subprocess.run(path, environment: ProcessEnvironment.encode(environment), stdin: stdin)
        } catch {
            throw CNIError(.delegateFailure, "failed to run plugin \"\(type)\"", details: error.description)
        }
        if out.succeeded { return out.stdout }
        throw PluginFailure.interpret(type: type, status: out.status, stdout: out.stdout, stderr: out.stderr)
    }
}

public enum PluginFailure {
    /// A failed plugin's CNIError from its stdout JSON, else a description of what it printed.
    public static func interpret(type: String, status: Int32, stdout: [UInt8], stderr: [UInt8]) -> CNIError {
        if let v = try? JSONValue.parse(stdout), let e = CNIError(json: v) { return e }
        let text = String(decoding: stdout.isEmpty ? stderr : stdout, as: UTF8.self)
            .trimmingWhitespace
        if text.isEmpty {
            return CNIError(.delegateFailure, "plugin \"\(type)\" failed with no error message", details: "exit status \(status)")
        }
        return CNIError(.delegateFailure, "plugin \"\(type)\" failed", details: text)
    }
}
