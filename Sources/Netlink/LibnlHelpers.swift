import CLibnl
import IPAddressing

/// An `nl_addr`'s bytes.
func bytes(of addr: OpaquePointer?) -> [UInt8]? {
    guard let addr, let p = nl_addr_get_binary_addr(addr) else { return nil }
    let n = Int(nl_addr_get_len(addr))
    return n > 0 ? Array(UnsafeRawBufferPointer(start: p, count: n)) : nil
}

/// An `nl_addr` holding an IPv4 or IPv6 address.
func ipAddress(_ addr: OpaquePointer?) -> IPAddress? { bytes(of: addr).flatMap { IPAddress(bytes: $0) } }

/// An `nl_addr` holding a 6-byte link-layer address.
func macAddress(_ addr: OpaquePointer?) -> MACAddress? { bytes(of: addr).flatMap { MACAddress(bytes: $0) } }

/// A libnl socket connected to the kernel's netlink `family` in the calling thread's network namespace
/// (freed again when the connect fails).
func connectedSocket(_ family: Int32, _ operation: String) throws(NetlinkError) -> OpaquePointer {
    guard let sk = nl_socket_alloc() else { throw NetlinkError("nl_socket_alloc", code: NLE_NOMEM) }
    do { try NetlinkError.check(nl_connect(sk, family), operation) } catch {
        nl_socket_free(sk)
        throw error
    }
    return sk
}

extension NetlinkSocket {
    /// Dumps one kind of object into a libnl cache (`alloc`) and visits each, then frees it.
    func eachObject(_ operation: String, alloc: (inout OpaquePointer?) -> Int32,
                    _ visit: (OpaquePointer) -> Void) throws(NetlinkError) {
        var cache: OpaquePointer?
        defer { nl_cache_free(cache) }   // also one allocated before a failure (nl_cache_free(NULL) is fine)
        try NetlinkError.check(alloc(&cache), operation)
        var obj = nl_cache_get_first(cache)
        while let o = obj {
            obj = nl_cache_get_next(o)
            visit(o)
        }
    }
}
