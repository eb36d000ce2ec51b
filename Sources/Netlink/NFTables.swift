import CLibnl
import Glibc

/// nf_tables through netlink (NETLINK_NETFILTER), in-process: the messages `nft` itself sends for
/// the same script (tables, chains, rules of a few expressions, comments as nftnl's user data),
/// built with libnl; a change goes to the kernel as one batch — all of it or nothing, as `nft -f`
/// applies a script —, and a chain's rules are read back by a dump the kernel filters by table and
/// chain. The bridge's masquerading and MAC spoof check run through this instead of two `nft`
/// processes per ADD and DEL; `nft list` shows the result exactly as if nft had added it (tested),
/// so either side's tools read and remove the other's rules.
public enum NFTFamily: UInt8, Sendable {
    case inet = 1, ip = 2, bridge = 7, ip6 = 10

    public var name: String {
        switch self {
        case .inet: "inet"
        case .ip: "ip"
        case .bridge: "bridge"
        case .ip6: "ip6"
        }
    }
}

public enum NFTVerdict: Equatable, Sendable {
    case accept, drop, `return`
    case jump(String), goto(String)

    var code: Int32 {
        switch self {
        case .accept: NF_ACCEPT
        case .drop: NF_DROP
        case .return: NFT_RETURN.rawValue
        case .jump: NFT_JUMP.rawValue
        case .goto: NFT_GOTO.rawValue
        }
    }

    var chain: String? {
        switch self {
        case .jump(let c), .goto(let c): c
        default: nil
        }
    }
}

public enum NFTPayloadBase: UInt32, Sendable { case link = 0, network = 1, transport = 2 }

/// One expression of a rule, with register 1 as nft uses it (the verdict register for verdicts).
public enum NFTExpression: Equatable, Sendable {
    /// `meta load <key> => reg 1` (a `NFT_META_*` key).
    case meta(key: UInt32)
    /// `payload load <length>b @ <base> header + <offset> => reg 1`.
    case payload(NFTPayloadBase, offset: UInt32, length: UInt32)
    /// `bitwise reg 1 = (reg 1 & mask) ^ xor`, over mask.count bytes.
    case bitwise(mask: [UInt8], xor: [UInt8])
    /// `cmp eq|neq reg 1 <data>`.
    case cmp(equal: Bool, [UInt8])
    /// `immediate reg 0 <verdict>`.
    case verdict(NFTVerdict)
    /// `masq`.
    case masquerade

    public static let metaNFProto: UInt32 = NFT_META_NFPROTO.rawValue
    public static let metaIIFName: UInt32 = NFT_META_IIFNAME.rawValue
}

/// What makes a chain a base chain: its type and hook, priority and (optional) policy.
public struct NFTBaseChain: Sendable, Equatable {
    public var type: String
    public var hook: UInt32
    public var priority: Int32
    public var policyAccept: Bool?

    public init(type: String, hook: UInt32, priority: Int32, policyAccept: Bool? = nil) {
        (self.type, self.hook, self.priority, self.policyAccept) = (type, hook, priority, policyAccept)
    }

    /// NF_INET_POST_ROUTING; NF_BR_PRE_ROUTING.
    public static let postrouting: UInt32 = 4
    public static let bridgePrerouting: UInt32 = 0
}

/// One command of a batch, as nft's `add table`, `add chain`, `flush chain`, `add rule`,
/// `delete rule … handle`, `delete chain` (the `add`s leave what exists alone).
public enum NFTCommand: Sendable, Equatable {
    case addTable(NFTFamily, String, comment: String?)
    case addChain(NFTFamily, table: String, chain: String, comment: String?, base: NFTBaseChain?)
    case flushChain(NFTFamily, table: String, chain: String)
    case addRule(NFTFamily, table: String, chain: String, [NFTExpression], comment: String?)
    case deleteRule(NFTFamily, table: String, chain: String, handle: UInt64)
    case deleteChain(NFTFamily, table: String, chain: String)

    /// As nft would name it in an error.
    public var description: String {
        switch self {
        case .addTable(let f, let t, _): "add table \(f.name) \(t)"
        case .addChain(let f, let t, let c, _, _): "add chain \(f.name) \(t) \(c)"
        case .flushChain(let f, let t, let c): "flush chain \(f.name) \(t) \(c)"
        case .addRule(let f, let t, let c, _, _): "add rule \(f.name) \(t) \(c)"
        case .deleteRule(let f, let t, let c, let h): "delete rule \(f.name) \(t) \(c) handle \(h)"
        case .deleteChain(let f, let t, let c): "delete chain \(f.name) \(t) \(c)"
        }
    }
}

/// A rule as the kernel lists it: where it is, its handle, its comment, and the chain it jumps or
/// goes to, if it does.
public struct NFTablesRule: Sendable, Equatable {
    public var family: NFTFamily
    public var table: String
    public var chain: String
    public var handle: UInt64
    public var comment: String
    public var target: String?
    /// The rule's expressions, when every one is of a kind NFTExpression describes (else nil).
    public var expressions: [NFTExpression]?

    public init(family: NFTFamily, table: String, chain: String, handle: UInt64, comment: String, target: String?,
                expressions: [NFTExpression]? = nil) {
        (self.family, self.table, self.chain, self.handle, self.comment, self.target) = (family, table, chain, handle, comment, target)
        self.expressions = expressions
    }

    public var deleteCommand: NFTCommand { .deleteRule(family, table: table, chain: chain, handle: handle) }
}

/// A NETLINK_NETFILTER socket, bound to the network namespace it was opened in.
public final class NFTablesSocket {
    let sk: OpaquePointer
    private var seq: UInt32

    /// Opens a socket in the calling thread's current network namespace.
    public init() throws(NetlinkError) {
        sk = try connectedSocket(NETLINK_NETFILTER, "nl_connect netfilter")
        // Errors without a copy of the request (our batches' acknowledgements stay small).
        var on: Int32 = 1
        _ = setsockopt(nl_socket_get_fd(sk), 270, 10, &on, socklen_t(MemoryLayout<Int32>.size))  // SOL_NETLINK, NETLINK_CAP_ACK
        seq = UInt32(truncatingIfNeeded: time(nil))
    }

    deinit { nl_socket_free(sk) }

    private func nextSeq() -> UInt32 { seq &+= 1; return seq }

    // MARK: Changes

    /// Applies the commands as one transaction; the first refusal (with its command) is thrown
    /// and nothing is changed.
    public func apply(_ commands: [NFTCommand]) throws(NetlinkError) {
        guard !commands.isEmpty else { return }
        let first = nextSeq()
        var batch = NFTBatch()
        batch.append(Self.batchMarker(Int(NFNL_MSG_BATCH_BEGIN)), seq: first)
        for (i, c) in commands.enumerated() {
            // Only the last command asks for an acknowledgement: the kernel reports every
            // refusal anyway, and an acknowledgement per command would overflow the socket's
            // receive buffer for a large batch (a GC's).
            let m = Self.message(c, acknowledge: i == commands.count - 1)
            guard !m.overflowed else { throw NetlinkError(c.description, code: NLE_NOMEM) }
            batch.append(m, seq: nextSeq())
        }
        let last = seq
        batch.append(Self.batchMarker(Int(NFNL_MSG_BATCH_END)), seq: nextSeq())
        let sent = batch.bytes.withUnsafeMutableBytes { nl_sendto(sk, $0.baseAddress, $0.count) }
        try NetlinkError.check(sent, "nftables transaction")
        // nfnetlink handles a batch inside sendmsg: every answer is queued by now.
        var failure: (seq: UInt32, errno: Int32)?
        var acked = false
        try drain { type, _, s, payload in
            guard type == UInt16(NLMSG_ERROR), s >= first, s <= last, payload.count >= 4 else { return }
            let err = payload.loadUnaligned(as: Int32.self)
            if err < 0, failure.map({ s < $0.seq }) ?? true { failure = (s, -err) }
            if s == last { acked = true }
        }
        if let failure {
            let index = Int(failure.seq &- first) - 1
            let what = commands.indices.contains(index) ? commands[index].description : "nftables transaction"
            throw Self.error(what, errno: failure.errno)
        }
        guard acked else { throw NetlinkError("nftables transaction (no acknowledgement)", code: NLE_FAILURE) }
    }

    /// A refusal with the kernel's errno: libnl's code, and the errno's own text (libnl maps
    /// several to "Unspecific failure").
    static func error(_ operation: String, errno: Int32) -> NetlinkError {
        NetlinkError(operation + " (" + String(cString: strerror(errno)) + ")", code: nl_syserr2nlerr(errno))
    }

    // MARK: Listings

    /// The rules of one chain, in order; none when the table or chain does not exist. A dump
    /// another transaction interrupted (the kernel continues a rule dump by position, so a rule
    /// deleted meanwhile can make it skip one) is read again, as nft does. Each rule's
    /// expressions are decoded only with `expressions` (a DEL reading a chain of every pod's
    /// rules needs their handles and comments).
    public func rules(_ family: NFTFamily, table: String, chain: String, expressions: Bool = false) throws(NetlinkError) -> [NFTablesRule] {
        let operation = "list chain \(family.name) \(table) \(chain)"
        for _ in 0..<5 {
            let m = Self.request(Int(NFT_MSG_GETRULE.rawValue), flags: NLM_F_REQUEST | NLM_F_DUMP, family)
            m.put(Int(NFTA_RULE_TABLE.rawValue), string: table)
            m.put(Int(NFTA_RULE_CHAIN.rawValue), string: chain)
            var out: [NFTablesRule] = []
            do {
                let complete = try exchange(m, operation) { payload in
                    if let r = NFTablesRule(family: family, attributes: payload, expressions: expressions), r.table == table, r.chain == chain {
                        out.append(r)
                    }
                }
                if complete { return out }
            } catch {
                if error.isNotFound { return [] }
                throw error
            }
        }
        throw NetlinkError(operation + " (the ruleset kept changing during the listing)", code: NLE_BUSY)
    }

    public static let policyAccept: Int32 = NF_ACCEPT

    /// The chain's policy when it is a base chain (NF_ACCEPT, NF_DROP), as far as a GETCHAIN
    /// tells: `.some(nil)` for a regular chain, nil when the chain (or its table) does not exist.
    public func chain(_ family: NFTFamily, table: String, chain: String) throws(NetlinkError) -> Int32?? {
        let m = Self.request(Int(NFT_MSG_GETCHAIN.rawValue), flags: NLM_F_REQUEST | NLM_F_ACK, family)
        m.put(Int(NFTA_CHAIN_TABLE.rawValue), string: table)
        m.put(Int(NFTA_CHAIN_NAME.rawValue), string: chain)
        var found: Int32?? = nil
        do {
            _ = try exchange(m, "list chain \(family.name) \(table) \(chain)") { payload in
                var policy: Int32?
                eachAttribute(payload) { type, v in
                    if type == UInt16(NFTA_CHAIN_POLICY.rawValue), v.count == 4 { policy = Int32(bigEndian: v.loadUnaligned(as: Int32.self)) }
                }
                found = .some(policy)
            }
        } catch {
            if error.isNotFound { return nil }
            throw error
        }
        return found
    }

    /// Whether the chain exists (false also when its table does not).
    public func chainExists(_ family: NFTFamily, table: String, chain name: String) throws(NetlinkError) -> Bool {
        try chain(family, table: table, chain: name) != nil
    }

    /// Sends one request and reads its answer to the end (NLMSG_DONE, or the acknowledgement),
    /// handing each message's payload after the nfgenmsg header to `visit`. False when the kernel
    /// marked a dump interrupted (NLM_F_DUMP_INTR: the caller reads again).
    private func exchange(_ m: NetlinkMessage, _ operation: String,
                          _ visit: (UnsafeRawBufferPointer) -> Void) throws(NetlinkError) -> Bool {
        let s = nextSeq()
        var one = NFTBatch()
        one.append(m, seq: s)
        let sent = one.bytes.withUnsafeMutableBytes { nl_sendto(sk, $0.baseAddress, $0.count) }
        try NetlinkError.check(sent, operation)
        var done = false, interrupted = false, failure: Int32 = 0
        while !done {
            try receive(wait: true, operation) { type, flags, ms, payload in
                guard ms == s else { return }
                if flags & UInt16(NLM_F_DUMP_INTR) != 0 { interrupted = true }
                if type == UInt16(NLMSG_DONE) || type == UInt16(NLMSG_ERROR) {
                    // Both carry an int: the error (negative), 0 for an acknowledgement or a
                    // dump that ended well.
                    done = true
                    if payload.count >= 4 { failure = -payload.loadUnaligned(as: Int32.self) }
                    return
                }
                if payload.count >= 4 { visit(UnsafeRawBufferPointer(rebasing: payload[4...])) }
            }
        }
        if failure > 0 { throw Self.error(operation, errno: failure) }
        return !interrupted
    }

    /// Reads what is queued on the socket without waiting.
    private func drain(_ visit: (UInt16, UInt16, UInt32, UnsafeRawBufferPointer) -> Void) throws(NetlinkError) {
        while try receive(wait: false, "nftables transaction", visit) {}
    }

    /// Receives one datagram and hands each of its messages (type, flags, sequence number,
    /// payload) to `visit`; false when nothing was queued (without `wait`).
    private func receive(wait: Bool, _ operation: String,
                         _ visit: (UInt16, UInt16, UInt32, UnsafeRawBufferPointer) -> Void) throws(NetlinkError) -> Bool {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 8)
        defer { buffer.deallocate() }
        while true {
            let n = recv(nl_socket_get_fd(sk), buffer.baseAddress, buffer.count, wait ? 0 : Int32(MSG_DONTWAIT))
            if n < 0 {
                if errno == EINTR { continue }
                if !wait && (errno == EAGAIN || errno == EWOULDBLOCK) { return false }
                throw Self.error(operation, errno: errno)
            }
            if n == 0 { return false }
            NFTBatch.eachMessage(UnsafeRawBufferPointer(rebasing: buffer[..<n]), visit)
            return true
        }
    }

    // MARK: Messages

    /// A request of the nftables subsystem for one family.
    static func request(_ type: Int, flags: Int32, _ family: NFTFamily) -> NetlinkMessage {
        NetlinkMessage(type: Int(NFNL_SUBSYS_NFTABLES) << 8 | type, flags: flags,
                       header: NFGenMsg(family: family.rawValue, version: UInt8(NFNETLINK_V0), resID: 0))
    }

    static func batchMarker(_ type: Int) -> NetlinkMessage {
        NetlinkMessage(type: type, flags: NLM_F_REQUEST,
                       header: NFGenMsg(family: UInt8(AF_UNSPEC), version: UInt8(NFNETLINK_V0), resID: UInt16(NFNL_SUBSYS_NFTABLES).bigEndian))
    }

    /// The message nft sends for the command (flags as nft's: create, append).
    static func message(_ c: NFTCommand, acknowledge: Bool = true) -> NetlinkMessage {
        let ack = acknowledge ? NLM_F_ACK : 0
        let create = NLM_F_REQUEST | NLM_F_CREATE | ack, del = NLM_F_REQUEST | ack
        switch c {
        case .addTable(let f, let name, let comment):
            let m = request(Int(NFT_MSG_NEWTABLE.rawValue), flags: create, f)
            m.put(Int(NFTA_TABLE_NAME.rawValue), string: name)
            m.putBE(Int(NFTA_TABLE_FLAGS.rawValue), 0)
            if let comment { m.put(Int(NFTA_TABLE_USERDATA.rawValue), bytes: userData(comment: comment)) }
            return m
        case .addChain(let f, let table, let name, let comment, let base):
            let m = request(Int(NFT_MSG_NEWCHAIN.rawValue), flags: create, f)
            m.put(Int(NFTA_CHAIN_TABLE.rawValue), string: table)
            m.put(Int(NFTA_CHAIN_NAME.rawValue), string: name)
            if let comment { m.put(Int(NFTA_CHAIN_USERDATA.rawValue), bytes: userData(comment: comment)) }
            if let base {
                m.put(Int(NFTA_CHAIN_TYPE.rawValue), string: base.type)
                m.nest(Int(NFTA_CHAIN_HOOK.rawValue)) {
                    m.putBE(Int(NFTA_HOOK_HOOKNUM.rawValue), base.hook)
                    m.putBE(Int(NFTA_HOOK_PRIORITY.rawValue), UInt32(bitPattern: base.priority))
                }
                if let accept = base.policyAccept {
                    m.putBE(Int(NFTA_CHAIN_POLICY.rawValue), UInt32(bitPattern: accept ? NF_ACCEPT : NF_DROP))
                }
            }
            return m
        case .flushChain(let f, let table, let chain):
            let m = request(Int(NFT_MSG_DELRULE.rawValue), flags: del, f)
            m.put(Int(NFTA_RULE_TABLE.rawValue), string: table)
            m.put(Int(NFTA_RULE_CHAIN.rawValue), string: chain)
            return m
        case .addRule(let f, let table, let chain, let expressions, let comment):
            let m = request(Int(NFT_MSG_NEWRULE.rawValue), flags: create | NLM_F_APPEND, f)
            m.put(Int(NFTA_RULE_TABLE.rawValue), string: table)
            m.put(Int(NFTA_RULE_CHAIN.rawValue), string: chain)
            m.nest(Int(NFTA_RULE_EXPRESSIONS.rawValue)) {
                for e in expressions { put(e, into: m) }
            }
            if let comment { m.put(Int(NFTA_RULE_USERDATA.rawValue), bytes: userData(comment: comment)) }
            return m
        case .deleteRule(let f, let table, let chain, let handle):
            let m = request(Int(NFT_MSG_DELRULE.rawValue), flags: del, f)
            m.put(Int(NFTA_RULE_TABLE.rawValue), string: table)
            m.put(Int(NFTA_RULE_CHAIN.rawValue), string: chain)
            m.put(Int(NFTA_RULE_HANDLE.rawValue), bytes: bigEndianBytes(handle))
            return m
        case .deleteChain(let f, let table, let chain):
            let m = request(Int(NFT_MSG_DELCHAIN.rawValue), flags: del, f)
            m.put(Int(NFTA_CHAIN_TABLE.rawValue), string: table)
            m.put(Int(NFTA_CHAIN_NAME.rawValue), string: chain)
            return m
        }
    }

    static func put(_ e: NFTExpression, into m: NetlinkMessage) {
        let reg1 = UInt32(NFT_REG_1.rawValue)
        let value = { (attr: UInt32, bytes: [UInt8]) in
            m.nest(Int(attr)) { m.put(Int(NFTA_DATA_VALUE.rawValue), bytes: bytes) }
        }
        m.nest(Int(NFTA_LIST_ELEM.rawValue)) {
            switch e {
            case .meta(let key):
                m.put(Int(NFTA_EXPR_NAME.rawValue), string: "meta")
                m.nest(Int(NFTA_EXPR_DATA.rawValue)) {
                    m.putBE(Int(NFTA_META_KEY.rawValue), key)
                    m.putBE(Int(NFTA_META_DREG.rawValue), reg1)
                }
            case .payload(let base, let offset, let length):
                m.put(Int(NFTA_EXPR_NAME.rawValue), string: "payload")
                m.nest(Int(NFTA_EXPR_DATA.rawValue)) {
                    m.putBE(Int(NFTA_PAYLOAD_DREG.rawValue), reg1)
                    m.putBE(Int(NFTA_PAYLOAD_BASE.rawValue), base.rawValue)
                    m.putBE(Int(NFTA_PAYLOAD_OFFSET.rawValue), offset)
                    m.putBE(Int(NFTA_PAYLOAD_LEN.rawValue), length)
                }
            case .bitwise(let mask, let xor):
                m.put(Int(NFTA_EXPR_NAME.rawValue), string: "bitwise")
                m.nest(Int(NFTA_EXPR_DATA.rawValue)) {
                    m.putBE(Int(NFTA_BITWISE_SREG.rawValue), reg1)
                    m.putBE(Int(NFTA_BITWISE_DREG.rawValue), reg1)
                    m.putBE(Int(NFTA_BITWISE_LEN.rawValue), UInt32(mask.count))
                    value(NFTA_BITWISE_MASK.rawValue, mask)
                    value(NFTA_BITWISE_XOR.rawValue, xor)
                }
            case .cmp(let equal, let data):
                m.put(Int(NFTA_EXPR_NAME.rawValue), string: "cmp")
                m.nest(Int(NFTA_EXPR_DATA.rawValue)) {
                    m.putBE(Int(NFTA_CMP_SREG.rawValue), reg1)
                    m.putBE(Int(NFTA_CMP_OP.rawValue), equal ? NFT_CMP_EQ.rawValue : NFT_CMP_NEQ.rawValue)
                    value(NFTA_CMP_DATA.rawValue, data)
                }
            case .verdict(let v):
                m.put(Int(NFTA_EXPR_NAME.rawValue), string: "immediate")
                m.nest(Int(NFTA_EXPR_DATA.rawValue)) {
                    m.putBE(Int(NFTA_IMMEDIATE_DREG.rawValue), UInt32(NFT_REG_VERDICT.rawValue))
                    m.nest(Int(NFTA_IMMEDIATE_DATA.rawValue)) {
                        m.nest(Int(NFTA_DATA_VERDICT.rawValue)) {
                            m.putBE(Int(NFTA_VERDICT_CODE.rawValue), UInt32(bitPattern: v.code))
                            if let chain = v.chain { m.put(Int(NFTA_VERDICT_CHAIN.rawValue), string: chain) }
                        }
                    }
                }
            case .masquerade:
                m.put(Int(NFTA_EXPR_NAME.rawValue), string: "masq")
            }
        }
    }

    /// A comment as nftnl's user data: type 0 (the comment of a table, chain or rule), length,
    /// the string with its terminating NUL.
    static func userData(comment: String) -> [UInt8] {
        // The kernel takes at most 256 bytes of user data: 253 of text, cut on a character.
        var text = Array(comment.utf8)
        if text.count > 253 {
            var end = 253
            while end > 0 && text[end] & 0xc0 == 0x80 { end -= 1 }
            text = Array(text[..<end])
        }
        return [0, UInt8(text.count + 1)] + text + [0]
    }

    static func comment(userData p: UnsafeRawBufferPointer) -> String {
        var i = 0
        while i + 2 <= p.count {
            let type = p[i], len = Int(p[i + 1])
            guard i + 2 + len <= p.count else { break }
            if type == 0 { return cString(UnsafeRawBufferPointer(rebasing: p[(i + 2)..<(i + 2 + len)])) }
            i += 2 + len
        }
        return ""
    }
}

extension NFTablesRule {
    /// A rule from a NEWRULE message's attributes; its expressions decoded with `expressions`
    /// (the jump or goto target always).
    init?(family: NFTFamily, attributes p: UnsafeRawBufferPointer, expressions decode: Bool = true) {
        var table = "", chain = "", handle: UInt64?, comment = "", target: String?, expressions: [NFTExpression]?
        eachAttribute(p) { type, v in
            switch type {
            case UInt16(NFTA_RULE_TABLE.rawValue): table = cString(v)
            case UInt16(NFTA_RULE_CHAIN.rawValue): chain = cString(v)
            case UInt16(NFTA_RULE_HANDLE.rawValue) where v.count == 8: handle = UInt64(bigEndian: v.loadUnaligned(as: UInt64.self))
            case UInt16(NFTA_RULE_USERDATA.rawValue): comment = NFTablesSocket.comment(userData: v)
            case UInt16(NFTA_RULE_EXPRESSIONS.rawValue):
                let (all, chain) = Self.expressions(v, decode: decode)
                expressions = all
                target = chain ?? target
            default: break
            }
        }
        guard let handle else { return nil }
        self.init(family: family, table: table, chain: chain, handle: handle, comment: comment, target: target, expressions: expressions)
    }

    /// The expressions of a rule (nil when one is of a kind or shape NFTExpression does not
    /// describe), and the chain of its jump or goto, if any.
    /// With `decode` false only the chain is looked for (the expressions are nil).
    static func expressions(_ list: UnsafeRawBufferPointer, decode: Bool = true) -> ([NFTExpression]?, String?) {
        var out: [NFTExpression]? = decode ? [] : nil, chain: String?
        eachAttribute(list) { _, element in
            var name = "", data = UnsafeRawBufferPointer(start: nil, count: 0)
            eachAttribute(element) { type, v in
                if type == UInt16(NFTA_EXPR_NAME.rawValue) { name = cString(v) }
                if type == UInt16(NFTA_EXPR_DATA.rawValue) { data = v }
            }
            guard decode || name == "immediate" else { return }
            // The expression's attributes by type (these kinds use types 1–6).
            var a = [UnsafeRawBufferPointer?](repeating: nil, count: 8)
            var unknown = false
            eachAttribute(data) { type, v in
                if type < 8 { a[Int(type)] = v } else { unknown = true }
            }
            let u32 = { (t: UInt32) -> UInt32? in
                t < 8 ? a[Int(t)].flatMap { $0.count == 4 ? UInt32(bigEndian: $0.loadUnaligned(as: UInt32.self)) : nil } : nil
            }
            let value = { (t: UInt32) -> [UInt8]? in
                var bytes: [UInt8]?
                if t < 8, let nest = a[Int(t)] {
                    eachAttribute(nest) { type, v in if type == UInt16(NFTA_DATA_VALUE.rawValue) { bytes = Array(v) } }
                }
                return bytes
            }
            let reg1 = UInt32(NFT_REG_1.rawValue)
            var e: NFTExpression?
            switch name {
            case "meta":
                if u32(NFTA_META_DREG.rawValue) == reg1, let key = u32(NFTA_META_KEY.rawValue) { e = .meta(key: key) }
            case "payload":
                if u32(NFTA_PAYLOAD_DREG.rawValue) == reg1, let base = u32(NFTA_PAYLOAD_BASE.rawValue).flatMap(NFTPayloadBase.init(rawValue:)),
                   let offset = u32(NFTA_PAYLOAD_OFFSET.rawValue), let length = u32(NFTA_PAYLOAD_LEN.rawValue) {
                    e = .payload(base, offset: offset, length: length)
                }
            case "bitwise":
                if u32(NFTA_BITWISE_SREG.rawValue) == reg1, u32(NFTA_BITWISE_DREG.rawValue) == reg1,
                   (u32(NFTA_BITWISE_OP.rawValue) ?? 0) == 0, let mask = value(NFTA_BITWISE_MASK.rawValue), let xor = value(NFTA_BITWISE_XOR.rawValue) {
                    e = .bitwise(mask: mask, xor: xor)
                }
            case "cmp":
                if u32(NFTA_CMP_SREG.rawValue) == reg1, let op = u32(NFTA_CMP_OP.rawValue), op <= 1, let data = value(NFTA_CMP_DATA.rawValue) {
                    e = .cmp(equal: op == 0, data)
                }
            case "immediate":
                var code: Int32?, target: String?
                if u32(NFTA_IMMEDIATE_DREG.rawValue) == UInt32(NFT_REG_VERDICT.rawValue), let d = a[Int(NFTA_IMMEDIATE_DATA.rawValue)] {
                    eachAttribute(d) { type, verdict in
                        guard type == UInt16(NFTA_DATA_VERDICT.rawValue) else { return }
                        eachAttribute(verdict) { type, v in
                            if type == UInt16(NFTA_VERDICT_CODE.rawValue), v.count == 4 { code = Int32(bigEndian: v.loadUnaligned(as: Int32.self)) }
                            if type == UInt16(NFTA_VERDICT_CHAIN.rawValue) { target = cString(v) }
                        }
                    }
                }
                chain = target ?? chain
                switch (code, target) {
                case (NF_ACCEPT?, nil): e = .verdict(.accept)
                case (NF_DROP?, nil): e = .verdict(.drop)
                case (NFT_RETURN.rawValue?, nil): e = .verdict(.return)
                case (NFT_JUMP.rawValue?, let t?): e = .verdict(.jump(t))
                case (NFT_GOTO.rawValue?, let t?): e = .verdict(.goto(t))
                default: break
                }
            case "masq":
                // No flags and no registers (what nft sends for a plain `masquerade`).
                if !unknown, a.allSatisfy({ $0.map { $0.count == 4 && $0.loadUnaligned(as: UInt32.self) == 0 } ?? true }) {
                    e = .masquerade
                }
            default: break
            }
            guard decode else { return }
            if let e { out?.append(e) } else { out = nil }
        }
        return (out, chain)
    }
}

/// struct nfgenmsg.
struct NFGenMsg {
    var family: UInt8
    var version: UInt8
    var resID: UInt16
}

/// Netlink messages laid end to end, each with its sequence number: one sendmsg.
struct NFTBatch {
    var bytes: [UInt8] = []

    mutating func append(_ m: NetlinkMessage, seq: UInt32) {
        let h = nlmsg_hdr(m.msg)!
        h.pointee.nlmsg_seq = seq
        let len = Int(h.pointee.nlmsg_len)
        bytes.append(contentsOf: UnsafeRawBufferPointer(start: UnsafeRawPointer(h), count: len))
        while bytes.count % 4 != 0 { bytes.append(0) }
    }

    /// Each netlink message of a received buffer: type, flags, sequence number, payload.
    static func eachMessage(_ p: UnsafeRawBufferPointer, _ visit: (UInt16, UInt16, UInt32, UnsafeRawBufferPointer) -> Void) {
        var i = 0
        while i + 16 <= p.count {
            let len = Int(p.loadUnaligned(fromByteOffset: i, as: UInt32.self))
            guard len >= 16, i + len <= p.count else { return }
            let type = p.loadUnaligned(fromByteOffset: i + 4, as: UInt16.self)
            let flags = p.loadUnaligned(fromByteOffset: i + 6, as: UInt16.self)
            let seq = p.loadUnaligned(fromByteOffset: i + 8, as: UInt32.self)
            visit(type, flags, seq, UnsafeRawBufferPointer(rebasing: p[(i + 16)..<(i + len)]))
            i += (len + 3) & ~3
        }
    }
}

/// Each attribute (type without the nested/byte-order flags, payload) of an attribute stream.
func eachAttribute(_ p: UnsafeRawBufferPointer, _ visit: (UInt16, UnsafeRawBufferPointer) -> Void) {
    var i = 0
    while i + 4 <= p.count {
        let len = Int(p.loadUnaligned(fromByteOffset: i, as: UInt16.self))
        guard len >= 4, i + len <= p.count else { return }
        let type = p.loadUnaligned(fromByteOffset: i + 2, as: UInt16.self) & 0x3fff
        visit(type, UnsafeRawBufferPointer(rebasing: p[(i + 4)..<(i + len)]))
        i += (len + 3) & ~3
    }
}

/// The bytes up to the first NUL, as a string.
func cString(_ p: UnsafeRawBufferPointer) -> String {
    let end = p.firstIndex(of: 0) ?? p.count
    return String(decoding: UnsafeRawBufferPointer(rebasing: p[..<end]), as: UTF8.self)
}

func bigEndianBytes(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (56 - 8 * UInt64($0))) } }

extension NetlinkMessage {
    /// A 32-bit attribute in network byte order, as nf_tables wants its numbers.
    func putBE(_ attr: Int, _ value: UInt32) { put(attr, u32: value.bigEndian) }
}
