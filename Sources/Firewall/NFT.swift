import Basics
import CNI
import LinuxSystem

/// The `nft` command, as the reference drives nftables (knftables and go-nft exec it too): a
/// script on stdin applied as one transaction, JSON listings read back.
public struct NFT: Sendable {
    public let binary: String

    public init(binary: String) { self.binary = binary }

    /// `nft` from the usual places; code 101 when nftables is not installed.
    public static func locate() throws(FirewallError) -> NFT {
        for dir in ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin"] where FileSystem.isExecutableFile(dir + "/nft") {
            return NFT(binary: dir + "/nft")
        }
        throw FirewallError("nftables is needed for this configuration, but no nft command was found",
                       details: "install the nftables package")
    }

    /// Applies a script atomically (`nft -f -`): all of it or nothing.
    public func apply(_ script: String) throws(FirewallError) {
        let out = try run(["-f", "-"], stdin: Array(script.utf8))
        guard out.succeeded else {
            throw FirewallError("nftables transaction failed",
                           details: String(decoding: out.stderr, as: UTF8.self).trimmingWhitespace)
        }
    }

    /// `nft -j list …` parsed; nil when the table or chain does not exist.
    public func list(_ args: [String]) throws(FirewallError) -> JSONValue? {
        let out = try run(["-j", "list"] + args)
        guard out.succeeded else {
            let err = String(decoding: out.stderr, as: UTF8.self)
            if err.containsText("No such file or directory") { return nil }
            throw FirewallError("nft list \(args.joined(separator: " ")) failed", details: err.trimmingWhitespace)
        }
        do { return try JSONValue.parse(out.stdout) } catch {
            throw FirewallError("nft printed unreadable JSON", details: error.description)
        }
    }

    func run(_ args: [String], stdin: [UInt8] = []) throws(FirewallError) -> Subprocess.Output {
        do {
            return try Subprocess.run(binary, arguments: args, environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
                                      stdin: stdin, captureStderr: true)
        } catch {
            throw FirewallError("failed to run \(binary)", details: error.description)
        }
    }
}

/// A rule as `nft -j list` shows it: where it is, its handle and comment, its statements.
public struct NFTRule: Sendable, Equatable {
    public var family: String
    public var table: String
    public var chain: String
    public var handle: Int
    public var comment: String
    public var expr: JSONValue

    /// The rules of a listing (`{"nftables":[…,{"rule":{…}}]}`).
    public static func all(in listing: JSONValue?) -> [NFTRule] {
        (listing?["nftables"]?.arrayValue ?? []).compactMap { item in
            guard let r = item["rule"], let handle = r["handle"]?.intValue else { return nil }
            return NFTRule(family: r["family"]?.stringValue ?? "", table: r["table"]?.stringValue ?? "",
                           chain: r["chain"]?.stringValue ?? "", handle: handle,
                           comment: r["comment"]?.stringValue ?? "", expr: r["expr"] ?? .null)
        }
    }

}

/// A string as an nft quoted string (the names we put there never hold quotes; they are dropped).
public func quoted(_ s: String) -> String { "\"" + s.filter { $0 != "\"" && $0 != "\n" } + "\"" }
