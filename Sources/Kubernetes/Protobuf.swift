/// gRPC and protocol buffers, as far as swift-cni speaks them without generated code: kubelet's
/// PodResources API (multus) and etcd's v3 API (whereabouts) — a handful of messages each, read
/// and written field by field.

/// gRPC's message framing (a compressed flag, a 4-byte big-endian length, the message).
public enum GRPCFrame {
    public static func encode(_ message: [UInt8]) -> [UInt8] {
        let n = UInt32(message.count)
        return [0, UInt8(n >> 24), UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)] + message
    }

    /// The one message of a unary response; nil while `bytes` holds less than a whole frame.
    public static func decode(_ bytes: [UInt8]) throws(KubeError) -> [UInt8]? {
        guard bytes.count >= 5 else { return nil }
        guard bytes[0] == 0 else { throw KubeError(.invalidResponse, "read a gRPC message", "compressed messages are not asked for") }
        let n = Int(bytes[1]) << 24 | Int(bytes[2]) << 16 | Int(bytes[3]) << 8 | Int(bytes[4])
        guard bytes.count >= 5 + n else { return nil }
        return Array(bytes[5..<(5 + n)])
    }
}

/// Protocol buffers' wire format, read field by field (no schema; unknown fields skipped by the
/// caller).
package struct ProtoReader {
    package enum Value { case varint(UInt64), fixed64(UInt64), bytes([UInt8]), fixed32(UInt32) }

    package struct Malformed: Error, CustomStringConvertible {
        package var description: String
    }

    let bytes: [UInt8]
    var at = 0

    package init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// The next field (number and value); nil at the end.
    package mutating func next() throws(Malformed) -> (Int, Value)? {
        guard at < bytes.count else { return nil }
        let key = try varint()
        let field = Int(key >> 3)
        guard field > 0 else { throw Malformed(description: "field number 0 at byte \(at)") }
        switch key & 7 {
        case 0: return (field, .varint(try varint()))
        case 1: return (field, .fixed64(try fixed(8)))
        case 2:
            let n = try varint()
            guard n <= UInt64(bytes.count - at) else { throw Malformed(description: "field \(field) runs past the end") }
            defer { at += Int(n) }
            return (field, .bytes(Array(bytes[at..<(at + Int(n))])))
        case 5: return (field, .fixed32(UInt32(truncatingIfNeeded: try fixed(4))))
        default: throw Malformed(description: "wire type \(key & 7) of field \(field)")
        }
    }

    mutating func varint() throws(Malformed) -> UInt64 {
        var value: UInt64 = 0
        for shift in stride(from: 0, to: 70, by: 7) {
            guard at < bytes.count else { throw Malformed(description: "a varint runs past the end") }
            let b = bytes[at]
            at += 1
            guard shift < 64 else { throw Malformed(description: "a varint longer than 10 bytes") }
            value |= UInt64(b & 0x7F) << UInt64(shift)
            if b & 0x80 == 0 { return value }
        }
        throw Malformed(description: "a varint longer than 10 bytes")
    }

    mutating func fixed(_ n: Int) throws(Malformed) -> UInt64 {
        guard bytes.count - at >= n else { throw Malformed(description: "a fixed-width field runs past the end") }
        var v: UInt64 = 0
        for i in 0..<n { v |= UInt64(bytes[at + i]) << UInt64(8 * i) }
        at += n
        return v
    }
}

/// Protocol buffers' wire format, written field by field (no schema): fields at their default
/// value are left out, as protobuf writers do.
package struct ProtoWriter {
    package private(set) var bytes: [UInt8] = []

    package init() {}

    package mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// A varint field (an integer, an enum or a bool); nothing when 0 unless `always` (a member
    /// of a oneof).
    package mutating func field(_ number: Int, _ value: UInt64, always: Bool = false) {
        guard always || value != 0 else { return }
        varint(UInt64(number) << 3)
        varint(value)
    }

    /// A length-delimited field (bytes, a string, a message); nothing when empty unless `always`
    /// (a message present but empty, a member of a oneof, an element of a repeated field).
    package mutating func field(_ number: Int, bytes value: [UInt8], always: Bool = false) {
        guard always || !value.isEmpty else { return }
        varint(UInt64(number) << 3 | 2)
        varint(UInt64(value.count))
        bytes += value
    }

    package mutating func field(_ number: Int, _ text: String) { field(number, bytes: Array(text.utf8)) }

    /// A message field, written by `body`.
    package mutating func message(_ number: Int, _ body: (inout ProtoWriter) -> Void) {
        var m = ProtoWriter()
        body(&m)
        field(number, bytes: m.bytes, always: true)
    }
}
