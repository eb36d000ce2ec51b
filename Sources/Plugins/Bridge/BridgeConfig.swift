import CNI
import IPAddressing

/// The bridge plugin's configuration (plugins §2.3), every key of the reference's.
public struct BridgeConfig: Sendable {
    public enum MasqBackend: String, Sendable { case nftables, iptables }

    public var bridge: String
    public var isGateway: Bool
    public var isDefaultGateway: Bool
    public var forceAddress: Bool
    public var ipMasq: Bool
    /// nil: the plugin picks (nftables when `nft` is installed or iptables is not, else iptables).
    public var ipMasqBackend: MasqBackend?
    public var mtu: Int
    public var hairpinMode: Bool
    public var promiscMode: Bool
    /// Access VLAN (PVID + untagged on the pod's port); 0 = none.
    public var vlan: Int
    /// Tagged VLANs of a trunk port, sorted, without duplicates.
    public var trunk: [UInt16]
    public var preserveDefaultVlan: Bool
    public var macSpoofCheck: Bool
    public var enableDAD: Bool
    public var disableContainerInterface: Bool
    public var portIsolation: Bool
    /// The pod's MAC: CNI_ARGS MAC, then args.cni.mac, then runtimeConfig.mac (each later wins).
    public var mac: MACAddress?
    public var ipamType: String?
    public var dns: DNS

    public static let argsKeys: [String] = ["MAC"]

    /// What only ADD refuses (as the reference's cmdAdd and SetupVeth do): DEL, CHECK and GC of
    /// such a config still run, so a pod whose ADD was refused can be deleted.
    public private(set) var addProblems: [CNIError] = []

    /// Throws the first problem that makes this config unusable for ADD.
    public func validateForAdd() throws(CNIError) {
        if let first = addProblems.first { throw first }
    }

    /// False when `bridge` is not a name the kernel takes as it is.
    public private(set) var bridgeNameIsValid = true

    /// VLAN filtering is on when the pod's port gets VLANs.
    public var vlanFiltering: Bool { vlan != 0 || !trunk.isEmpty }

    public init(_ conf: NetConf, args: CNIArgs) throws(CNIError) {
        let r = JSONReader(.object(conf.raw), path: "")
        bridge = try r.string("bridge").flatMap { $0.isEmpty ? nil : $0 } ?? "cni0"
        // A name the kernel would refuse or rewrite: ADD refuses it, DEL has nothing of it to undo
        // (the VLAN gateway's lock file is named after the bridge: never built from such a name).
        do { try Names.validateInterfaceName(bridge, code: .invalidNetworkConfig, what: "bridge") } catch {
            addProblems.append(error)
            bridgeNameIsValid = false
        }
        isDefaultGateway = try r.bool("isDefaultGateway") ?? false
        isGateway = try r.bool("isGateway") ?? false || isDefaultGateway
        forceAddress = try r.bool("forceAddress") ?? false
        ipMasq = try r.bool("ipMasq") ?? false
        let backend = try r.string("ipMasqBackend") ?? ""
        if backend.isEmpty {
            ipMasqBackend = nil
        } else {
            ipMasqBackend = MasqBackend(rawValue: backend)
            if ipMasqBackend == nil { addProblems.append(CNIError.invalidConfig("unknown ipmasq backend \"\(backend)\"")) }
        }
        // Out of range: only ADD refuses it (a pod whose ADD was refused can still be deleted).
        do { mtu = Int(try r.uint32("mtu") ?? 0) } catch {
            if r.raw("mtu")?.intValue == nil { throw error }
            addProblems.append(error)
            mtu = 0
        }
        hairpinMode = try r.bool("hairpinMode") ?? false
        promiscMode = try r.bool("promiscMode") ?? false
        if hairpinMode && promiscMode {
            addProblems.append(CNIError.invalidConfig("cannot set hairpin mode and promiscuous mode at the same time"))
        }
        vlan = try r.int("vlan") ?? 0
        if vlan < 0 || vlan > 4094 { throw CNIError.invalidConfig("invalid VLAN ID \(vlan) (must be between 0 and 4094)") }
        trunk = try Self.trunk(r)
        preserveDefaultVlan = try r.bool("preserveDefaultVlan") ?? false
        macSpoofCheck = try r.bool("macspoofchk") ?? false
        enableDAD = try r.bool("enabledad") ?? false
        disableContainerInterface = try r.bool("disableContainerInterface") ?? false
        portIsolation = try r.bool("portIsolation") ?? false
        ipamType = conf.ipamType
        dns = conf.dns
        if disableContainerInterface && ipamType != nil {
            addProblems.append(CNIError.invalidConfig("cannot use IPAM when disableContainerInterface flag is set"))
        }

        mac = try Self.mac(conf, args: args, problems: &addProblems)
    }

    /// The pod's MAC: CNI_ARGS MAC, then args.cni.mac, then runtimeConfig.mac (each later wins);
    /// a bad one is a problem for ADD only.
    static func mac(_ conf: NetConf, args: CNIArgs, problems: inout [CNIError]) throws(CNIError) -> MACAddress? {
        var mac: MACAddress?
        func take(_ text: String?, _ source: String) {
            guard let text, !text.isEmpty else { return }
            mac = MACAddress(text).flatMap { $0.isMulticast ? nil : $0 }
            if mac == nil { problems.append(CNIError.invalidConfig("invalid MAC address \"\(text)\" (\(source))")) }
        }
        take(args["MAC"], "CNI_ARGS MAC")
        if let cni = conf.argsCNI { take(try JSONReader(.object(cni), path: "args.cni").string("mac"), "args.cni.mac") }
        take(try JSONReader(.object(conf.runtimeConfig), path: "runtimeConfig").string("mac"), "runtimeConfig.mac")
        return mac
    }

    /// `vlanTrunk`: [{"id": N} | {"minID": A, "maxID": B}], IDs 1–4094.
    static func trunk(_ r: JSONReader) throws(CNIError) -> [UInt16] {
        guard let items = try r.array("vlanTrunk") else { return [] }
        var ids = Set<UInt16>()
        for (i, item) in items.enumerated() {
            let e = r.child("vlanTrunk[\(i)]", item)
            try e.requireObject()
            let minID = try e.int("minID"), maxID = try e.int("maxID"), id = try e.int("id")
            switch (minID, maxID) {
            case let (lo?, hi?):
                guard lo > 0, lo <= 4094 else { throw CNIError.invalidConfig("incorrect trunk minID parameter") }
                guard hi > 0, hi <= 4094 else { throw CNIError.invalidConfig("incorrect trunk maxID parameter") }
                guard lo <= hi else { throw CNIError.invalidConfig("minID is greater than maxID in trunk parameter") }
                for v in lo...hi { ids.insert(UInt16(v)) }
            case (nil, _?):
                throw CNIError.invalidConfig("minID and maxID should be configured simultaneously, minID is missing")
            case (_?, nil):
                throw CNIError.invalidConfig("minID and maxID should be configured simultaneously, maxID is missing")
            case (nil, nil):
                break
            }
            if let id {
                guard id > 0, id <= 4094 else { throw CNIError.invalidConfig("incorrect trunk id parameter") }
                ids.insert(UInt16(id))
            }
        }
        return ids.sorted()
    }
}
