// swift-tools-version:6.0
import PackageDescription

/// Release executables are fully static (~0.7 ms start-up instead of ~2.8 ms dynamic, measured on the
/// project machines; README "Performance");
/// debug builds and `swift test` stay dynamic. FoundationEssentials (pulled in by
/// swift-argument-parser: cnitool and swift-cni-install only) needs its C shims named explicitly
/// when linked statically; an executable that does not use them links nothing of them.
/// SWIFT_CNI_PROFILE=1 keeps symbols, for profiling a release build (Integration/Benchmarks).
/// The per-pod path's functions (Sources/Executables/hot-symbols.txt, made by
/// Integration/Benchmarks/hot-symbols.sh) are laid out together by lld, so a plugin touches a few
/// hundred KiB of its text instead of megabytes: lower peak RSS, fewer page faults at start-up.
let keepSymbols = Context.environment["SWIFT_CNI_PROFILE"] == "1"
let hotSymbols = Context.packageDirectory + "/Sources/Executables/hot-symbols.txt"
let staticRelease: [LinkerSetting] = [
    .unsafeFlags(["-static-executable", "-use-ld=lld",
                  "-Xlinker", "--symbol-ordering-file=" + hotSymbols, "-Xlinker", "--no-warn-symbol-ordering"]
                 + (keepSymbols ? [] : ["-Xlinker", "--strip-all"]),
                 .when(platforms: [.linux], configuration: .release)),
    .linkedLibrary("_FoundationCollections", .when(platforms: [.linux], configuration: .release)),
    .linkedLibrary("_FoundationCShims", .when(platforms: [.linux], configuration: .release)),
    .linkedLibrary("swiftSynchronization", .when(platforms: [.linux], configuration: .release)),
]

let package = Package(
    name: "swift-cni",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "cnitool", targets: ["cnitool"]),
        // Every plugin in one file each, linked as /opt/cni/bin/<name> (Applets): the per-pod
        // one, and the full one with the cluster clients and daemons (PluginKit's Handoff).
        .executable(name: "swift-cni", targets: ["swift-cni"]),
        .executable(name: "swift-cni-full", targets: ["swift-cni-full"]),
        .executable(name: "swift-cni-install", targets: ["swift-cni-install"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // The Kubernetes API and etcd clients: HTTP/1.1 on NIO, HTTPS with the cluster's CA
        // (HTTPBridge).
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        // kubelet's PodResources API (gRPC over a unix socket) for multus's resourceName: HTTP/2
        // on NIO, protobuf read by hand (Kubernetes/PodResources.swift).
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.38.0"),
        // YAML in tests (manifests; the kubeconfig reader's answers compared with Yams's). The
        // plugins read kubeconfigs with libyaml itself (CYAML): Yams needs full Foundation, ICU's
        // ~30 MB of data included, in the executable that talks to the cluster.
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.0"),
        // The dhcp daemon's structured logs.
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // Pure value layers.
        .target(name: "Basics"),
        .target(name: "IPAddressing"),
        .target(name: "CNI", dependencies: ["IPAddressing"]),
        // The DHCPv4 codec (messages, options, RFC 3442 routes) for the coming dhcp daemon: pure.
        .target(name: "DHCP", dependencies: ["CNI", "IPAddressing"]),
        // The OS edge (each layer's error carries its CNI code, so these know the CNI values).
        .target(name: "CLinux"),
        // The standard library's command-line hooks without its /proc/self/maps scan (startup.c).
        .target(name: "CStartup", cSettings: [.unsafeFlags(["-fdata-sections"])]),
        .systemLibrary(name: "CLibnl", pkgConfig: "libnl-route-3.0",
                       providers: [.apt(["libnl-3-dev", "libnl-route-3-dev"])]),
        // libyaml, the YAML parser under Yams, for kubeconfigs (KubernetesClient's YAMLNode).
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        .target(name: "LinuxSystem", dependencies: ["Basics", "CNI", "CLinux"]),
        .target(name: "NetNS", dependencies: ["CNI", "CLinux", "LinuxSystem"]),
        .target(name: "Netlink", dependencies: ["CLibnl", "CNI", "IPAddressing"]),
        // Running another plugin: CNI_PATH lookup, exec, reading its reply (delegates, chains).
        .target(name: "CNIInvoke", dependencies: ["Basics", "CNI", "LinuxSystem"]),
        // The plugin skeleton, IPAM delegation, Rollback, BestEffort.
        .target(name: "PluginKit", dependencies: ["Basics", "CNI", "CNIInvoke", "LinuxSystem"]),
        // A link in the pod: namespace, creation, IPAM's addresses and routes, CHECK (link plugins).
        .target(name: "InterfaceSetup", dependencies: ["CNI", "Netlink", "NetNS", "LinuxSystem", "PluginKit"]),
        .target(name: "IPAM", dependencies: ["Basics", "CNI", "IPAddressing", "LinuxSystem"]),
        // What libcni does for a runtime (cnitool, the coming meta plugin): no plugin skeleton.
        .target(name: "CNIRuntime", dependencies: ["Basics", "CNI", "CNIInvoke", "LinuxSystem"]),

        // Plugins: one library each (testable by import), one small executable each.
        .target(name: "HostLocal", dependencies: ["CNI", "IPAM", "PluginKit"], path: "Sources/Plugins/HostLocal"),
        .target(name: "Static", dependencies: ["CNI", "PluginKit"], path: "Sources/Plugins/Static"),
        .target(name: "Macvlan", dependencies: ["CNI", "PluginKit", "InterfaceSetup", "Netlink"],
                path: "Sources/Plugins/Macvlan"),
        .target(name: "Ipvlan", dependencies: ["CNI", "PluginKit", "InterfaceSetup", "Netlink"],
                path: "Sources/Plugins/Ipvlan"),
        .target(name: "RouteOverride", dependencies: ["CNI", "IPAddressing", "PluginKit", "InterfaceSetup", "Netlink"],
                path: "Sources/Plugins/RouteOverride"),
        .target(name: "HostDevice", dependencies: ["CNI", "PluginKit", "InterfaceSetup", "Netlink", "NetNS", "LinuxSystem"],
                path: "Sources/Plugins/HostDevice"),
        // nftables through the nft command (masquerading, MAC spoof checks): no libnftables.
        .target(name: "Firewall", dependencies: ["Basics", "CNI", "IPAddressing", "LinuxSystem", "Netlink"]),
        .target(name: "Bridge", dependencies: ["CNI", "PluginKit", "InterfaceSetup", "Netlink", "LinuxSystem", "Firewall"],
                path: "Sources/Plugins/Bridge"),
        // HTTP(S) for synchronous plugins: one kept-alive connection on NIO's shared event loop
        // (NIOHTTP1's codec, swift-nio-ssl), bridged to the calling thread at one edge; kubelet's
        // gRPC over HTTP/2.
        .target(name: "HTTPBridge", dependencies: [
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOTLS", package: "swift-nio"),
            .product(name: "NIOHTTP2", package: "swift-nio-http2"),
            .product(name: "NIOHPACK", package: "swift-nio-http2"),
        ]),
        // Kubernetes objects and errors (pure); the client over HTTPBridge, kubeconfigs read by libyaml.
        .target(name: "Kubernetes", dependencies: ["CNI"]),
        .target(name: "KubernetesClient", dependencies: [
            "Basics", "CNI", "LinuxSystem", "HTTPBridge", "Kubernetes",
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            "CYAML",
        ]),
        .target(name: "Multus", dependencies: ["Basics", "CNI", "CNIInvoke", "CNIRuntime", "IPAddressing", "Kubernetes", "LinuxSystem", "NetNS", "Netlink", "PluginKit"],
                path: "Sources/Plugins/Multus"),
        .target(name: "MultusCluster", dependencies: ["CNIInvoke", "Multus", "Kubernetes", "KubernetesClient", "PluginKit"],
                path: "Sources/Plugins/MultusCluster"),
        .target(name: "EgressRouter", dependencies: ["CNI", "Firewall", "IPAddressing", "InterfaceSetup", "LinuxSystem", "NetNS", "Netlink", "PluginKit"],
                path: "Sources/Plugins/EgressRouter"),
        // Cluster-wide IPAM: the embedded file store, the Kubernetes CRDs, etcd.
        .target(name: "Whereabouts", dependencies: ["Basics", "CNI", "IPAM", "IPAddressing", "LinuxSystem", "PluginKit"],
                path: "Sources/Plugins/Whereabouts"),
        .target(name: "WhereaboutsCluster", dependencies: ["Whereabouts", "Basics", "CNI", "HTTPBridge", "IPAM", "IPAddressing", "Kubernetes",
                                                           "KubernetesClient", "LinuxSystem", "PluginKit",
                                                           .product(name: "NIOCore", package: "swift-nio"),
                                                           .product(name: "NIOSSL", package: "swift-nio-ssl")],
                path: "Sources/Plugins/WhereaboutsCluster"),
        // dhcp: the IPAM plugin (forwards to the daemon) and `dhcp daemon` (the lease clients).
        .target(name: "DHCPIPAM", dependencies: ["Basics", "CLinux", "CNI", "DHCP", "IPAddressing", "LinuxSystem", "NetNS", "Netlink", "PluginKit"],
                path: "Sources/Plugins/DHCP"),
        .target(name: "DHCPDaemon", dependencies: ["DHCPIPAM", "Basics", "CLinux", "CNI", "DHCP", "IPAddressing", "LinuxSystem", "NetNS", "Netlink",
                                                  .product(name: "Logging", package: "swift-log")],
                path: "Sources/Plugins/DHCPDaemon"),

        // The two multi-call executables (Applets): every plugin by the name it is run as.
        .target(name: "Applets", dependencies: ["Basics", "Bridge", "CNI", "CNIInvoke", "DHCPIPAM", "EgressRouter", "HostDevice", "HostLocal", "Ipvlan",
                                                "Macvlan", "LinuxSystem", "Multus", "PluginKit", "RouteOverride", "Static", "Whereabouts"]),
        .executableTarget(name: "swift-cni", dependencies: ["Applets", "CStartup", "Multus", "PluginKit", "Whereabouts"],
                          path: "Sources/Executables/swift-cni", linkerSettings: staticRelease),
        .executableTarget(name: "swift-cni-full", dependencies: ["Applets", "Basics", "CStartup", "DHCPDaemon", "LinuxSystem", "Multus", "MultusCluster",
                                                                 "Whereabouts", "WhereaboutsCluster",
                                                                 .product(name: "Logging", package: "swift-log")],
                          path: "Sources/Executables/swift-cni-full", linkerSettings: staticRelease),

        // The node image's installer (multus thin_entrypoint's role): binaries, kubeconfig, 00-multus.conf.
        .target(name: "Installer", dependencies: ["Basics", "CNI", "LinuxSystem"]),
        .executableTarget(name: "swift-cni-install",
                          dependencies: ["Installer", "Basics", "LinuxSystem", .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          path: "Sources/Executables/swift-cni-install", linkerSettings: staticRelease),

        .executableTarget(
            name: "cnitool",
            dependencies: ["Basics", "CNIRuntime", "CNIInvoke", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Sources/Executables/cnitool",
            linkerSettings: staticRelease),

        // A test-only plugin (like upstream's plugins/test/noop): records what it was given and
        // answers as told. Used by unit tests of the runtime and by integration tests.
        .executableTarget(name: "cni-noop", dependencies: ["PluginKit"], path: "Integration/NoopPlugin"),

        // Coverage-guided fuzzing of every config decoder, CNI_ARGS and results (Integration/Fuzz/run.sh
        // builds it with libFuzzer and -DFUZZING); a plain build replays files (the committed corpus).
        .executableTarget(name: "cni-fuzz-configs",
                          dependencies: ["Bridge", "CNI", "DHCPIPAM", "EgressRouter", "HostDevice", "HostLocal", "Ipvlan", "Kubernetes", "LinuxSystem",
                                         "Macvlan", "Multus", "RouteOverride", "Static", "Whereabouts"],
                          path: "Integration/Fuzz/Configs"),

        // Helpers for tests: temporary directories, built products, processes.
        .target(name: "TestSupport", dependencies: ["CNI", "CNIInvoke", "LinuxSystem", "PluginKit"], path: "Tests/TestSupport"),
        // Benchmarks against the Go reference plugins (Integration/Benchmarks/run.sh).
        .executableTarget(name: "cni-bench", dependencies: ["CNI", "LinuxSystem", "NetNS"], path: "Integration/Benchmarks/Runner"),

        .testTarget(name: "BasicsTests", dependencies: ["Basics"]),
        .testTarget(name: "IPAddressingTests", dependencies: ["IPAddressing"]),
        .testTarget(name: "DHCPTests", dependencies: ["DHCP", "DHCPIPAM", "DHCPDaemon", "CNI", "PluginKit", "IPAddressing", "LinuxSystem", "TestSupport",
                                                   .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "CNITests", dependencies: ["CNI"], resources: [.copy("Golden")]),
        .testTarget(name: "PluginKitTests", dependencies: ["PluginKit", "Basics", "CNIInvoke", "LinuxSystem", "TestSupport"]),
        .testTarget(name: "IPAMTests", dependencies: ["IPAM", "CNI", "TestSupport"]),
        .testTarget(name: "PluginTests", dependencies: ["HostLocal", "Static", "Macvlan", "Ipvlan", "RouteOverride", "HostDevice", "Bridge", "EgressRouter",
                                                        "Firewall", "Basics", "Netlink", "InterfaceSetup", "PluginKit", "TestSupport"]),
        .testTarget(name: "InstallerTests", dependencies: ["Installer", "Kubernetes", "KubernetesClient", "CNI", "LinuxSystem", "TestSupport", "swift-cni-install", "swift-cni",
                                                           .product(name: "Yams", package: "Yams")]),
        .testTarget(name: "WhereaboutsTests", dependencies: ["Whereabouts", "WhereaboutsCluster", "IPAM", "IPAddressing", "CNI", "PluginKit", "TestSupport"]),
        .testTarget(name: "KubernetesTests", dependencies: ["Kubernetes", "KubernetesClient", "HTTPBridge", "CNI", "LinuxSystem", "TestSupport",
                                                            .product(name: "Yams", package: "Yams"),
                                                            .product(name: "NIOCore", package: "swift-nio"),
                                                            .product(name: "NIOSSL", package: "swift-nio-ssl")]),
        .testTarget(name: "MultusTests", dependencies: ["Multus", "MultusCluster", "Kubernetes", "KubernetesClient", "CNI", "IPAddressing", .product(name: "Yams", package: "Yams"), "CNIRuntime", "PluginKit", "TestSupport"]),
        .testTarget(name: "CNIRuntimeTests", dependencies: ["CNIRuntime", "CNIInvoke", "Basics", "PluginKit", "TestSupport", "cni-noop"]),
        // Root + network-namespace tests against the real kernel (Integration/README.md).
        .testTarget(name: "IntegrationTests", dependencies: ["Basics", "CNI", "Firewall", "IPAddressing", "LinuxSystem", "Netlink", "NetNS", "TestSupport", "cnitool", "cni-noop", "swift-cni", "swift-cni-full", "swift-cni-install", "cni-fuzz-configs"],
                    path: "Integration/Tests"),
    ],
    swiftLanguageModes: [.v6]
)

/// Release code reaches generic type metadata (`[String]`, `[Route]`, `[String: String]`…) through
/// direct accessors instead of mangled names the runtime demangles at first use in every process:
/// −12% instructions for a start-up, −15% for a host-local ADD, −19% for a macvlan ADD (callgrind).
/// Each function in a section of its own, so that the symbol ordering can move it: without it a
/// module's code is one section, placed whole wherever its first hot function ranks, and the hot
/// functions sat among megabytes of cold ones (VERSION 95 → 78 page faults, start-up 0.40–0.46 →
/// 0.36–0.40 of Go's; README, Performance).
///
/// What ships does not import _StringProcessing (Swift imports it implicitly): the string
/// searches it holds (`contains(_:)` with a string, `firstRange(of:)`, `replacing(_:with:)`…)
/// bring it and _RegexParser into an executable, 1.1 MB and ~445 protocol-conformance records that
/// every first-time dynamic cast scans; Basics' `containsText(_:)` and its kin search bytes instead.
/// Tests and the Integration tools keep the import.
for target in package.targets where target.type != .system && target.type != .binary {
    let ships = target.type != .test && !(target.path ?? "").hasPrefix("Integration")
    target.swiftSettings = (target.swiftSettings ?? []) + [
        .unsafeFlags(["-Xfrontend", "-disable-concrete-type-metadata-mangled-name-accessors",
                      "-Xfrontend", "-function-sections"], .when(configuration: .release)),
    ] + (ships ? [.unsafeFlags(["-Xfrontend", "-disable-implicit-string-processing-module-import"])] : [])
}
