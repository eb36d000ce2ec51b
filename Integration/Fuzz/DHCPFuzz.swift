// libFuzzer target for the DHCPv4 decoders (Sources/DHCP), compiled with it, IPAddressing and CNI by
// Integration/Fuzz/run.sh: whatever bytes arrive from a pod's network, decoding never traps, a
// decoded message encodes to bytes that decode to the same message, and the option readers
// (addresses, classless routes) never trap either.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDHCP(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    // The same bytes as a frame from the packet socket: refused or taken apart, never a trap.
    if let d = UDPDatagram(ipv4Packet: bytes), d.payload.count > bytes.count { fatalError("payload longer than the packet") }
    guard let m = DHCPMessage(decoding: bytes) else { return 0 }
    // As an ACK: a lease and its IPAM result, or a clean refusal.
    if let lease = try? DHCPLease(ack: m, acquired: 0) {
        let r = lease.result(priority: 1)
        guard r.ips.count == 1, lease.renewAt <= lease.rebindAt, lease.rebindAt <= lease.expiresAt else {
            fatalError("a lease with inconsistent times or result: \(bytes)")
        }
    }
    guard let again = DHCPMessage(decoding: m.encode()), again == m else {
        fatalError("a decoded DHCP message does not survive encoding: \(bytes)")
    }
    _ = m.messageType
    for (code, value) in m.options {
        _ = DHCPOption.addresses(value)
        _ = DHCPOption.uint32(value)
        if code == DHCPOption.classlessStaticRoutes, let routes = DHCPOption.classlessRoutes(value) {
            guard DHCPOption.classlessRoutes(DHCPOption.encodeClasslessRoutes(routes))?.map(\.0) == routes.map(\.0) else {
                fatalError("classless routes do not survive encoding: \(value)")
            }
        }
    }
    return 0
}
