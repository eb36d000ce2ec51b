import CLibnl
import Glibc
import IPAddressing

/// A netlink request under construction (owns an `nl_msg`). `capacity` sizes the buffer for a
/// large request (the default is one page); an attribute that does not fit marks the message
/// `overflowed`, and `NetlinkSocket.send` refuses such a message instead of sending a cut one.
final class NetlinkMessage {
    let msg: OpaquePointer
    private(set) var overflowed = false

    init<Header>(type: Int, flags: Int32, header: Header, capacity: Int? = nil) {
        if let capacity {
            msg = nlmsg_alloc_size(capacity)
            _ = nlmsg_put(msg, UInt32(NL_AUTO_PORT), UInt32(NL_AUTO_SEQ), Int32(type), 0, flags)
        } else {
            msg = nlmsg_alloc_simple(Int32(type), flags)
        }
        var h = header
        record(nlmsg_append(msg, &h, MemoryLayout<Header>.size, Int32(NLMSG_ALIGNTO)))
    }

    deinit { nlmsg_free(msg) }

    private func record(_ status: Int32) { if status < 0 { overflowed = true } }

    func put(_ attr: Int, u32 value: UInt32) { record(nla_put_u32(msg, Int32(attr), value)) }
    func put(_ attr: Int, u16 value: UInt16) { record(nla_put_u16(msg, Int32(attr), value)) }
    func put(_ attr: Int, u8 value: UInt8) { record(nla_put_u8(msg, Int32(attr), value)) }
    func put(_ attr: Int, string value: String) { record(nla_put_string(msg, Int32(attr), value)) }
    func put(_ attr: Int, bytes: [UInt8]) {
        record(bytes.withUnsafeBytes { nla_put(msg, Int32(attr), Int32($0.count), $0.baseAddress) })
    }
    func put(_ attr: Int, address: IPAddress) { put(attr, bytes: address.bytes) }

    func nest(_ attr: Int, _ body: () -> Void) {
        guard let start = nla_nest_start(msg, Int32(attr)) else { overflowed = true; return }
        body()
        record(nla_nest_end(msg, start))
    }
}

/// Header values Swift cannot see (enums and macros of <net/if.h> and <linux/rtnetlink.h>).
enum Kernel {
    static let IFF_UP: UInt32 = 1
    static let IFF_PROMISC: UInt32 = 0x100
    static let IF_OPER_UP: UInt8 = 6
    static let RTPROT_BOOT: UInt8 = 3
    static let RTN_UNICAST: UInt8 = 1
}

extension IPAddress.Family {
    var af: Int32 { self == .v4 ? Int32(AF_INET) : Int32(AF_INET6) }
}
