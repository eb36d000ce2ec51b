import NIOCore

extension BlockingHTTPClient {
    /// Where a URL points — scheme, host, port: what a connection is for — split from its
    /// request target. Read as bytes: `http[s]://host[:port][/path][?query]`, the host a name, an
    /// IPv4 address or a bracketed IPv6 one; user info, other schemes and bytes that do not belong
    /// in a request line are refused (an invalid URL, as before).
    struct Origin: Equatable, Sendable {
        var secure: Bool
        /// Without brackets: what to connect to.
        var host: String
        var port: Int
        /// As written in the URL (brackets, port): the Host header.
        var authority: String

        /// The socket address when the host is an IPv4 or IPv6 address, nil for a name.
        var address: SocketAddress? { try? SocketAddress(ipAddress: host, port: port) }

        static func split(_ url: String) -> (Origin, target: String)? {
            let u = Array(url.utf8)
            // The scheme in any case, as URL parsers (and kubectl) take it.
            func scheme(_ s: String) -> Bool {
                u.count >= s.utf8.count && zip(u, s.utf8).allSatisfy { $0 | 0x20 == $1 || $0 == $1 }
            }
            let secure: Bool
            var i: Int
            if scheme("https://") {
                (secure, i) = (true, 8)
            } else if scheme("http://") {
                (secure, i) = (false, 7)
            } else {
                return nil
            }
            let authorityStart = i
            while i < u.count, u[i] != UInt8(ascii: "/"), u[i] != UInt8(ascii: "?"), u[i] != UInt8(ascii: "#") { i += 1 }
            let authority = u[authorityStart..<i]
            var end = i
            while end < u.count, u[end] != UInt8(ascii: "#") { end += 1 }
            let rest = u[i..<end]
            guard !authority.isEmpty, !authority.contains(UInt8(ascii: "@")),
                  rest.allSatisfy({ $0 > 0x20 && $0 < 0x7f }), authority.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else { return nil }
            var target = String(decoding: rest, as: UTF8.self)
            if rest.first != UInt8(ascii: "/") { target = "/" + target }

            var port = secure ? 443 : 80
            let hostBytes: ArraySlice<UInt8>
            var portBytes: ArraySlice<UInt8>?
            if authority.first == UInt8(ascii: "[") {
                // Brackets hold an IPv6 address, nothing else.
                guard let close = authority.firstIndex(of: UInt8(ascii: "]")),
                      (try? SocketAddress(ipAddress: String(decoding: authority[(authority.startIndex + 1)..<close], as: UTF8.self),
                                          port: 0))?.protocol == .inet6 else { return nil }
                hostBytes = authority[(authority.startIndex + 1)..<close]
                let after = authority[(close + 1)...]
                if !after.isEmpty {
                    guard after.first == UInt8(ascii: ":") else { return nil }
                    portBytes = after.dropFirst()
                }
            } else if let colon = authority.firstIndex(of: UInt8(ascii: ":")) {
                hostBytes = authority[..<colon]
                portBytes = authority[(colon + 1)...]
            } else {
                hostBytes = authority
            }
            if let portBytes {
                guard (1...5).contains(portBytes.count), portBytes.allSatisfy({ (48...57).contains($0) }),
                      let p = Int(String(decoding: portBytes, as: UTF8.self)), (1...65535).contains(p) else { return nil }
                port = p
            }
            guard !hostBytes.isEmpty, !hostBytes.contains(UInt8(ascii: "[")), !hostBytes.contains(UInt8(ascii: "]")) else { return nil }
            return (Origin(secure: secure, host: String(decoding: hostBytes, as: UTF8.self), port: port,
                           authority: String(decoding: authority, as: UTF8.self)), target)
        }
    }
}
