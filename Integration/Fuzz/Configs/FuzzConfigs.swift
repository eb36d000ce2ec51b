import Bridge
import CNI
import DHCPIPAM
import EgressRouter
import HostDevice
import HostLocal
import Ipvlan
import Kubernetes
import Macvlan
import Multus
import RouteOverride
import Static
import Whereabouts

/// Coverage-guided fuzzing of every config decoder, CNI_ARGS and results of every version (issue
/// #18, item 4). One input is tried every way: as CNI_ARGS text; as a network config (NetConf,
/// then each plugin's config — they read the keys they know whatever `type` says); as kubelet's
/// PodResources answer and device checkpoint (multus's resourceName); as a result,
/// read in every version and printed in every other. Nothing may trap (Swift's checks and
/// AddressSanitizer's); a result printed in its own version must read back the same.
/// Built by Integration/Fuzz/run.sh with libFuzzer (`-DFUZZING`); a plain build is a replayer:
/// `cni-fuzz-configs FILE…` runs each file once (the committed corpus, in the unit tests too).
enum ConfigFuzz {
    static let args = (try? CNIArgs(parsing: "IgnoreUnknown=1;IP=10.1.1.5,fd00::5;MAC=c2:00:00:00:00:01;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p"))
        ?? CNIArgs()

    static func one(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        if let a = try? CNIArgs(parsing: text) { _ = a.pairs.count }
        // kubelet's answers to multus: a PodResources List response (protobuf, gRPC-framed or
        // not) and the device checkpoint.
        _ = try? PodDevices.fromListResponse(bytes, namespace: "ns1", name: "web")
        if let message = try? GRPCFrame.decode(bytes) { _ = try? PodDevices.fromListResponse(message, namespace: "ns1", name: "web") }
        _ = try? PodDevices.fromCheckpoint(bytes, podUID: "u1")
        guard let json = try? JSONValue.parse(bytes) else { return }
        if let conf = try? NetConf(json: json, requireName: false) {
            let version = CNIVersion(rawValue: conf.cniVersionString) ?? .latest
            _ = try? MacvlanConfig(conf, args: args)
            _ = try? IpvlanConfig(conf)
            _ = try? BridgeConfig(conf, args: args)
            _ = try? HostDeviceConfig(conf)
            _ = try? RouteOverrideConfig(conf)
            _ = try? EgressRouterConfig(conf)
            _ = try? MultusConfig(conf)
            _ = try? DHCPConfig(conf, args: args)
            _ = try? HostLocalConfig(conf, args: args, version: version)
            _ = try? StaticConfig(conf, args: args, version: version)
            _ = try? WhereaboutsConfig(conf, args: args, version: version, flatFiles: [])
            _ = try? conf.prevResult()
        }
        for v in CNIVersion.allCases {
            guard let result = try? CNIResult(json: json, version: v) else { continue }
            for w in CNIVersion.allCases { _ = try? result.json(version: w) }
            // Printed in its own version and read back: the same result.
            if let printed = try? result.json(version: v), let again = try? CNIResult(json: printed, version: v),
               let reprinted = try? again.json(version: v), reprinted != printed {
                fatalError("result \(v.rawValue) does not survive a round trip: \(printed.serializedString()) → \(reprinted.serializedString())")
            }
        }
    }
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    ConfigFuzz.one(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

/// libFuzzer's driver (its own `main` is replaced: SwiftPM links an executable's entry point as
/// `main`, so the entry point runs the driver).
@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
               _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

@_cdecl("cni_fuzz_configs_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc, vector = argv
    return runDriver(&count, &vector, fuzzOne)
}
#else
import Glibc
import LinuxSystem

@main
struct Replay {
    static func main() {
        var n = 0
        for path in CommandLine.arguments.dropFirst() {
            guard let bytes = try? FileSystem.read(path) else { FileSystem.writeStderr("cannot read \(path)\n"); exit(1) }
            ConfigFuzz.one(bytes)
            n += 1
        }
        print("replayed \(n) inputs")
    }
}
#endif
